from dagster import DynamicPartitionsDefinition

from proxygen_dagster.names import PARTITION

# One partition per ingested source object key (the key, exactly as in S3).
frames = DynamicPartitionsDefinition(name=PARTITION.frames)
# One partition per image sequence, keyed by its pattern (renders/sh010/beauty.####.exr).
sequences = DynamicPartitionsDefinition(name=PARTITION.sequences)
# One partition per UTC day that has review clips, added by the dailies schedule (dailies/schedules.py) when it
# finds some: the daily review's partitions start at the first day with data, not at a fixed date.
days = DynamicPartitionsDefinition(name=PARTITION.days)
# One partition per editorial cut key (editorial/<show>/<cut>.edl), added by the frame discovery (the same
# listing or notifications) when a cut file lands under PROXYGEN_EDITORIAL_PREFIX.
cuts = DynamicPartitionsDefinition(name=PARTITION.cuts)
