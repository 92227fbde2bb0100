"""One source key from S3 to its outputs, state and catalog row (steps, state objects, the chain)."""
