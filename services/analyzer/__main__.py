"""``python -m services.analyzer``: the analyzer and Genesis engine worker."""

from infra.runtime import run_worker
from services.analyzer.router import setup

if __name__ == "__main__":
    run_worker("analyzer", setup)
