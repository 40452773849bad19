"""The independent services. None imports another; they share only `contracts` and `infra`."""
