"""The service runtime: a `Service` (handlers, hooks, background tasks) run by `run_service`/`Runtime`."""

from spillway.runtime.health import HealthServer
from spillway.runtime.runner import Runtime, run_service
from spillway.runtime.service import Context, Service

__all__ = ["Context", "HealthServer", "Runtime", "Service", "run_service"]
