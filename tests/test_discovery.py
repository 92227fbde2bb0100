"""The polling sweep's cursor: every new object once, re-uploads found again, and a cursor that stays
small however large the bucket is. A listing double stands in for S3 here (the sensor tests list real
SeaweedFS); it sorts keys and pages them the way ListObjectsV2 does."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from proxygen_core.store.discovery import Cursor, scan
from proxygen_core.store.s3 import ObjectInfo

EXT = frozenset({".exr"})


class Listing:
    def __init__(self) -> None:
        self.objects: dict[str, ObjectInfo] = {}
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)

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
