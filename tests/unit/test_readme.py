"""The README's configuration table and event catalogue stay true to the code."""

from pathlib import Path

from contracts.events import ALL_MESSAGES
from contracts.topology import SUBSCRIPTIONS
from infra.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f"K1_{n.upper()}" for n in Settings.model_fields if f"K1_{n.upper()}" not in README]
    assert not missing, f"README configuration table lacks {missing}"


def test_every_routing_key_and_queue_is_in_the_event_catalogue():
    missing = [m.routing_key for m in ALL_MESSAGES if f"`{m.routing_key}`" not in README]
    missing += [s.queue for s in SUBSCRIPTIONS if f"`{s.queue}`" not in README]
    assert not missing, f"README event catalogue lacks {missing}"
