"""Spillway: burst an on-premises Kubernetes cluster into TKE Serverless container instances.

Shared code for every service lives here, layered (checked by import-linter):
pure model and policy at the bottom, adapters (NATS, Kubernetes, cloud) above them,
the sandbox and emulator tools above those, the service runtime, then services and the CLI.
"""

__version__ = "0.1.0"
