"""The polling sweep's cursor: every new object once, re-uploads found again, and a cursor that stays
small however large the bucket is. A listing double stands in for S3 here (the sensor tests list real
SeaweedFS); it sorts keys and pages them the way ListObjectsV2 does."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from proxygen_core.store.discovery import Cursor, scan
from proxygen_core.store.s3 import ObjectInfo

EXT = frozenset({".exr"})


class Listing:
    def __init__(self) -> None:
        self.objects: dict[str, ObjectInfo] = {}
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def put(self, key: str, etag: str) -> None:
        self.objects[key] = ObjectInfo(key, 1, etag, self.now)

    def list_page(self, prefix="", start_after="", max_keys=1000, continuation=None):
        start = continuation or start_after
        keys = sorted(k for k in self.objects if k > start and k.startswith(prefix))
        page = keys[:max_keys]
        token = page[-1] if len(keys) > max_keys else None
        return [self.objects[k] for k in page], token, format_datetime(self.now, usegmt=True)


def sweep(listing: Listing, cursor: Cursor, max_keys: int) -> tuple[list[str], Cursor, int]:
    """Ticks until the sweep ends; the found keys, the cursor and the largest cursor seen (bytes)."""
    found: list[str] = []
    largest = 0
    for _ in range(10_000):
        objs, cursor = scan(listing, cursor, EXT, max_keys=max_keys, page_size=100)
        found += [o.key for o in objs]
        largest = max(largest, len(cursor.dumps()))
        if not cursor.after:
            return found, cursor, largest
    raise AssertionError("sweep did not end")


def test_first_sweep_of_a_large_bucket_finds_everything_with_a_small_cursor():
    listing = Listing()
    for i in range(5000):
        listing.put(f"show/sh{i // 100:03d}/plate.{i:04d}.exr", f"e{i}")
    listing.now += timedelta(minutes=10)  # the sweep starts long after those uploads
    found, cursor, largest = sweep(listing, Cursor(), max_keys=500)
    assert len(found) == len(set(found)) == 5000
    assert cursor.recent == {}  # nothing changed during the sweep: nothing to remember
    assert largest < 1000  # bytes, whatever the bucket size

    again, _, _ = sweep(listing, cursor, max_keys=500)
    assert again == []  # the next sweep requests nothing twice


def test_objects_changed_during_a_sweep_are_requested_once_and_reuploads_again():
    listing = Listing()
    for i in range(300):
        listing.put(f"a/{i:04d}.exr", "old")
    objs, cursor = scan(listing, Cursor(), EXT, max_keys=100, page_size=100)  # sweep started at `now`
    assert len(objs) == 100
    listing.put("a/0250.exr", "during")  # uploaded while the sweep runs, ahead of it
    listing.put("a/0005.exr", "reupload")  # behind it: the next sweep finds it
    found, cursor, _ = sweep(listing, cursor, max_keys=100)
    assert "a/0250.exr" in found and "a/0005.exr" not in found
    listing.now += timedelta(seconds=30)
    second, cursor, _ = sweep(listing, cursor, max_keys=100)
    # Changed during the first sweep: in the second sweep's window, but 0250 was requested already.
    assert second == ["a/0005.exr"]
    listing.now += timedelta(seconds=30)
    assert sweep(listing, cursor, max_keys=100)[0] == []


def test_start_from_skips_what_was_there_before_and_counts_what_is_not_a_source():
    from proxygen_core.settings import PipelineSettings
    from proxygen_core.store.discovery import Skipped

    listing = Listing()
    for i in range(5):
        listing.put(f"old/a.{i:04d}.exr", "e0")  # in the bucket before proxygen started
    listing.put("old/notes.txt", "e0")
    listing.put("old/.proxies/a.0001_thumb.jpg", "e0")
    start = listing.now + timedelta(minutes=5)
    assert PipelineSettings(start_from="now").start_moment(start) == start
    cursor = Cursor.loads(None, PipelineSettings(start_from="now").start_moment(start))
    listing.now = start + timedelta(seconds=30)
    listing.put("new/b.0001.exr", "e1")
    listing.put("new/matte.psd", "e1")
    skipped = Skipped()
    objs, cursor = scan(listing, cursor, EXT, skipped=skipped)
    assert [o.key for o in objs] == ["new/b.0001.exr"]  # none of the older objects, ever
    assert skipped.counts == {"unknown input: extension .txt": 1, "unknown input: extension .psd": 1,
                              "our own output (.proxies/ or the state folder)": 1}
    assert "old/notes.txt" in str(skipped)
    assert "1 our own output (.proxies/ or the state folder) (e.g. old/.proxies)" in str(skipped)
    # Only the new ignored object is to be recorded: what was there before the start never gets a row either.
    assert [(o.key, v.reason) for o, v in skipped.ignored] == [("new/matte.psd", "unknown input: extension .psd")]
    # "beginning" (the default) takes them all; an ISO time takes what changed from then on.
    assert len(sweep(listing, Cursor.loads(None, None), 1000)[0]) == 6
    iso = PipelineSettings(start_from=(start - timedelta(minutes=1)).isoformat()).start_moment()
    assert sweep(listing, Cursor.loads(None, iso), 1000)[0] == ["new/b.0001.exr"]


def test_start_from_refuses_what_is_neither_a_word_nor_a_time():
    import pytest

    from proxygen_core.settings import PipelineSettings, load_settings

    with pytest.raises(ValueError, match="start_from 'yesterday'"):
        PipelineSettings(start_from="yesterday")
    with pytest.raises(ValueError, match="PROXYGEN_START_FROM"):
        load_settings(env={"PROXYGEN_START_FROM": "soon"})


def test_notifications_before_the_start_are_not_sources():
    from proxygen_core.events.notifications import Notification, relevant

    start = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    notes = [Notification("b", "x/a.exr", "e", "ObjectCreated:Put", "2026-11-29T17:59:59.000Z"),
             Notification("b", "x/b.exr", "e", "ObjectCreated:Put", "2026-11-29T18:00:01.000Z"),
             Notification("b", "x/c.exr", "e", "ObjectCreated:Put", "")]
    assert [n.key for n in relevant(notes, "b", EXT, start)] == ["x/b.exr", "x/c.exr"]
    assert len(relevant(notes, "b", EXT)) == 3
