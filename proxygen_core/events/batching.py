"""When a burst of new keys becomes runs: full batches at once, the remainder once the burst has settled.

An upload burst reaches the sensor over several ticks (listing slices, notifications arriving while
files are still uploading). Cutting a run per tick made uneven runs (24, 24, 9, 24, 15 keys in one
measured ingest) and every run costs a process launch (~6 s on 2 cores), so the remainder of a tick is
held in the sensor's cursor until no new key has arrived for ``settle_seconds`` (or the oldest held key
has waited ``max_wait_seconds``). Held keys are few (fewer than one batch), so the cursor stays small.
Plain data in, plain data out: the sensors turn the result into partitions and run requests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Held:
    """New keys waiting to fill a batch, in arrival order: key -> [etag last seen, arrival time]."""

    keys: dict[str, list] = field(default_factory=dict)
    last_new_at: float = 0.0  # when a new key last arrived

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> Held:
        return cls(**data) if data else cls()


def take_batches(held: Held, fresh: dict[str, str], now: float, batch_size: int, settle_seconds: float,
                 max_wait_seconds: float) -> tuple[list[dict[str, str]], Held]:
    """Add ``fresh`` (new key -> etag) to ``held``; return the batches due now (key -> etag, in arrival
    order) and what stays held."""
    keys = {k: list(v) for k, v in held.keys.items()}
    last_new_at = held.last_new_at
    for key, etag in fresh.items():
        if key in keys:
            keys[key][0] = etag  # re-uploaded while held: the newest version goes into the batch
        else:
            keys[key] = [etag, now]
            last_new_at = now
    order = list(keys)
    batches = []
    while len(order) >= batch_size:
        batches.append({k: keys[k][0] for k in order[:batch_size]})
        order = order[batch_size:]
    if order and (now - last_new_at >= settle_seconds or now - keys[order[0]][1] >= max_wait_seconds):
        batches.append({k: keys[k][0] for k in order})
        order = []
    return batches, Held({k: keys[k] for k in order}, last_new_at if order else 0.0)
