"""``python -m services.validator``: validates generated maps."""

from infra.runtime import run_worker
from services.validator.router import setup

if __name__ == "__main__":
    run_worker("validator", setup)
