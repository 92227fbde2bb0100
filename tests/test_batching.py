"""Batching an upload burst into runs: full batches at once, the remainder after the burst settles."""
from __future__ import annotations

from proxygen_core.events.batching import Held, take_batches


def keys(lo: int, hi: int) -> dict[str, str]:
    return {f"s/f.{i:04d}.exr": f"e{i}" for i in range(lo, hi)}


def test_a_burst_over_several_ticks_becomes_full_batches_and_one_remainder():
    held, runs = Held(), []
    # 57 keys arrive over four ticks 5 s apart, then nothing; settle 10 s, batch 24.
    for now, fresh in ((0, keys(0, 10)), (5, keys(10, 30)), (10, keys(30, 50)), (15, keys(50, 57)), (20, {}),
                       (25, {}), (30, {})):
        batches, held = take_batches(held, fresh, now, 24, 10, 60)
        runs += [(now, list(b)) for b in batches]
    assert [(now, len(b)) for now, b in runs] == [(5, 24), (10, 24), (25, 9)]
    assert [k for _, b in runs for k in b] == list(keys(0, 57))  # every key once, in arrival order
    assert held.keys == {}


def test_a_steady_trickle_is_not_held_longer_than_the_maximum_wait():
    held, runs = Held(), []
    for now in range(0, 100, 5):  # one new key every 5 s: never settles for 10 s
        batches, held = take_batches(held, keys(now, now + 1), now, 24, 10, 30)
        runs += [(now, len(b)) for b in batches]
    assert runs[0] == (30, 7)  # the oldest key waited 30 s: the 7 held go together
    assert sum(n for _, n in runs) + len(held.keys) == 20


def test_a_key_reuploaded_while_held_goes_once_with_its_newest_etag():
    batches, held = take_batches(Held(), {"a.exr": "1", "b.exr": "1"}, 0, 24, 10, 60)
    assert batches == []
    held = Held.from_json(held.to_json())  # it lives in the sensor cursor between ticks
    batches, held = take_batches(held, {"a.exr": "2"}, 5, 24, 10, 60)
    assert batches == []
    batches, held = take_batches(held, {}, 15.5, 24, 10, 60)
    assert batches == [{"a.exr": "2", "b.exr": "1"}] and held == Held()


def test_no_settle_time_cuts_every_tick_as_before():
    batches, _ = take_batches(Held(), keys(0, 30), 0, 24, 0, 60)
    assert [len(b) for b in batches] == [24, 6]
