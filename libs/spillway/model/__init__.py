"""Pure data model: Kubernetes object views, bus messages, instance specs. No I/O."""
