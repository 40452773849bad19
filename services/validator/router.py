"""The validator's routing and composition root."""

from __future__ import annotations

from contracts.events import MapGenerated, ValidationIssue
from contracts.topology import subscription
from infra.broker import subscribe
from infra.metrics import TrackStateGauge
from infra.runtime import Infra
from services.validator.when_map_generated_validate import (
    ValidatorPorts,
    reject_map,
    validate_generated_map,
)


async def setup(infra: Infra):
    ports = ValidatorPorts(docs=infra.docs, objects=infra.objects, publisher=infra.publisher)

    async def give_up(msg: object, error: str) -> None:
        if isinstance(msg, MapGenerated):
            await reject_map(msg, [ValidationIssue(field="validator", message=error[:500])], ports)

    @subscribe(
        infra.broker, subscription("validator", "map.generated"), MapGenerated, on_give_up=give_up
    )
    async def on_map_generated(msg: MapGenerated) -> None:
        await validate_generated_map(msg, ports)

    # The validator moves tracks to their final states, so it also publishes k1_tracks{state}.
    gauge = TrackStateGauge(infra.docs.tracks, interval_s=30)
    gauge.start()
    return gauge.stop
