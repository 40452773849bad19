"""The link `make run` prints signs a browser in: a token in the fragment, never in the path."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from infra.auth import AuthError, verify_token
from services.gateway.views import DASHBOARD_TOKEN_TTL_S, dashboard_link
from tests.unit.gateway.conftest import SECRET


def test_the_link_carries_an_operator_token_in_its_fragment_only():
    link = urlsplit(dashboard_link("http://127.0.0.1:8080/", SECRET, track_id="t0001"))
    assert (link.path, link.query) == ("/", "track=t0001")
    key, _, token = link.fragment.partition("=")
    assert key == "token" and token not in link.path + link.query
    principal = verify_token(SECRET, token)
    assert (principal.subject, principal.role) == ("dashboard", "operator")


def test_the_link_stops_signing_in_after_its_ttl():
    token = dashboard_link("http://x", SECRET).partition("#token=")[2]
    verify_token(SECRET, token, now=time.time() + DASHBOARD_TOKEN_TTL_S - 60)
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, token, now=time.time() + DASHBOARD_TOKEN_TTL_S + 1)
