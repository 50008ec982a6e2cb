"""The Kubernetes adapter: kubernetes_asyncio configuration plus fast raw-JSON calls decoded with msgspec."""
