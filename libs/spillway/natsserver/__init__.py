"""An embedded nats-server (JetStream on) for tests, `spillway demo` and `spillway up`."""

from spillway.natsserver.server import NatsServer, NatsServerError, find_binary, free_port

__all__ = ["NatsServer", "NatsServerError", "find_binary", "free_port"]
