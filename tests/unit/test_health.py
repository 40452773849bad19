import httpx

from infra.health import HealthServer


async def _down():
    raise ConnectionError("mongo unreachable")


async def _up():
    return None


async def test_health_readiness_and_metrics_over_http():
    server = HealthServer(checks={"broker": _up, "mongo": _down}, port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"] == {"broker": "ok", "mongo": "down: ConnectionError"}
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200 and "python_info" in metrics.text
            assert (await client.get("/nope")).status_code == 404
    finally:
        await server.stop()


async def test_metrics_need_the_metrics_token_when_one_is_set():
    server = HealthServer(checks={"broker": _up}, port=0, metrics_token="scrape-secret")
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": "Basic scrape-secret"},
            ):
                refused = await client.get("/metrics", headers=headers)
                assert refused.status_code == 401 and "python_info" not in refused.text
            allowed = await client.get(
                "/metrics", headers={"Authorization": "Bearer scrape-secret"}
            )
            assert allowed.status_code == 200 and "python_info" in allowed.text
            assert (await client.get("/readyz")).status_code == 200  # probes need no token
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await server.stop()
