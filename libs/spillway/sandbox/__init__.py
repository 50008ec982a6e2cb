"""The Kubernetes API sandbox: an in-memory API server that kubectl and kubernetes_asyncio take for real."""
