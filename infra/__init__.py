"""Infrastructure adapters shared by every service: settings, broker, document store,
object store, logging. Services import from here; no service imports another service."""
