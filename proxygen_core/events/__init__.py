"""Events: their schema and ids, the outbox publisher, S3 notification parsing and burst batching."""
