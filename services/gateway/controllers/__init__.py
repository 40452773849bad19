"""The gateway's controllers, one module per resource."""
