"""``python -m services.deployer``: bundles, deployments to device fleets, acks, timeouts."""

from infra.runtime import run_worker
from services.deployer.router import setup

if __name__ == "__main__":
    run_worker("deployer", setup)
