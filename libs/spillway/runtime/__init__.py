"""Service runtime: config, NATS connection, health and metrics endpoints, graceful shutdown."""
