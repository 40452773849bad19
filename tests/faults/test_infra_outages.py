"""Each backing server goes away in the middle of a batch of uploads and comes back: RabbitMQ
(``stop_app``/``start_app`` on the private node), nx-27017 (killed, restarted on the same port
and data folder) and the object store (its address refuses connections for a while). Clients
retry refused uploads, as clients do; every song ends as exactly one ``ready`` track, and every
service is still up and ready afterwards without being restarted."""

from __future__ import annotations

import threading
import time

import pytest

from infra.embedded import start_nx27017
from tests.e2e.songs import click_song

pytestmark = pytest.mark.faults

BATCH = 8


def _songs(seed: int) -> dict[str, bytes]:
    return {
        f"s{seed}-{i}.wav": click_song(bpm=90 + 6 * i, seconds=6, seed=seed + i)
        for i in range(BATCH)
    }


def _upload_while(fs, songs: dict[str, bytes], fault, *, after: int = 3) -> None:
    """Upload ``songs`` one after another; ``fault()`` runs in a thread once ``after`` went in."""
    worker = None
    for n, (name, data) in enumerate(songs.items()):
        if n == after:
            worker = threading.Thread(target=fault, daemon=True)
            worker.start()
        fs.upload(name, data)
        time.sleep(0.2)
    worker.join(timeout=120)
    assert not worker.is_alive(), "the fault did not end"


def test_rabbitmq_restart_during_a_batch(fault_stack, private_rabbit):
    fs = fault_stack

    def restart() -> None:
        private_rabbit.stop_app()
        time.sleep(5)
        private_rabbit.start_app()

    _upload_while(fs, _songs(100), restart)
    summary = fs.assert_nothing_lost()
    assert summary["songs"] == summary["tracks"] == summary["ready"] == BATCH, summary
    # and the reconnected services keep working: one more song after the restart
    fs.upload("after.wav", click_song(bpm=128, seconds=6, seed=999))
    assert fs.assert_nothing_lost()["ready"] == BATCH + 1


def test_nx27017_killed_and_restarted_during_a_batch(fault_stack):
    fs = fault_stack
    stack = fs.stack

    def restart() -> None:
        stack.nx.process.kill()
        stack.nx.process.wait(timeout=10)
        time.sleep(7)  # longer than a client's 5 s server selection: operations fail meanwhile
        stack.nx = start_nx27017(
            port=stack.ports["mongo"],
            data_dir=stack.var_dir / "mongo",
            log_file=stack.var_dir / "logs" / "nx-27017.log",
        )

    _upload_while(fs, _songs(200), restart)
    summary = fs.assert_nothing_lost()
    assert summary["songs"] == summary["tracks"] == summary["ready"] == BATCH, summary
    assert (
        fs.ledger.refused
        or fs.tap.matching("handler failed, retry")
        or fs.tap.matching("retrying in place")
    ), "outage not noticed"


S3_OUTAGE_S = 20.0
"""Longer than the whole retry budget of a message (5 deliveries, ≈ 15 s of backoff here):
before outages were retried in place, this failed the tracks in flight."""


def test_object_store_unreachable_for_a_while(fault_stack, s3_proxy):
    fs = fault_stack

    def outage() -> None:
        s3_proxy.cut()
        time.sleep(S3_OUTAGE_S)
        s3_proxy.restore()

    _upload_while(fs, _songs(300), outage)
    summary = fs.assert_nothing_lost()
    assert summary["songs"] == summary["tracks"] == summary["ready"] == BATCH, summary
    held = fs.tap.matching("retrying in place")
    assert held, "the outage was never noticed by a consumer"
    assert not fs.tap.matching("giving up after"), "an outage used up a message's deliveries"
