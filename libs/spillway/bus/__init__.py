"""The NATS JetStream adapter: streams, KV buckets, publish with de-duplication, the consume loop and the DLQ."""
