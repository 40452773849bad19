"""``python -m services.telemetry``: stores device telemetry, drift statistics, alerts."""

from infra.runtime import run_worker
from services.telemetry.router import setup

if __name__ == "__main__":
    run_worker("telemetry", setup)
