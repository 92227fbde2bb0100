from dagster import DynamicPartitionsDefinition

# One partition per ingested source object key (the key, exactly as in S3).
frames = DynamicPartitionsDefinition(name="frames")
