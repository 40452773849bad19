"""Shared pytest set-up. Fixtures for real infrastructure live in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.nx",
    "tests.fixtures.moto_s3",
    "tests.fixtures.rabbit",
]
