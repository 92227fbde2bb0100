from dagster import DynamicPartitionsDefinition

# One partition per ingested source object key (the key, exactly as in S3).
frames = DynamicPartitionsDefinition(name="frames")
# One partition per image sequence, keyed by its pattern (renders/sh010/beauty.####.exr).
sequences = DynamicPartitionsDefinition(name="sequences")
