"""Embedded NATS: start nats-server with JetStream on a free loopback port, wait for it, stop it."""
