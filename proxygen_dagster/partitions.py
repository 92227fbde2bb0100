from dagster import DynamicPartitionsDefinition

from proxygen_dagster.names import PARTITION

# One partition per ingested source object key (the key, exactly as in S3).
frames = DynamicPartitionsDefinition(name=PARTITION.frames)
# One partition per image sequence, keyed by its pattern (renders/sh010/beauty.####.exr).
sequences = DynamicPartitionsDefinition(name=PARTITION.sequences)
