"""Pod → TKE Serverless instance translation: pure, no I/O."""
