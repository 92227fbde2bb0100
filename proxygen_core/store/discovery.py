"""Finding new and re-uploaded source objects without re-listing a large bucket on every poll.

The bucket is swept in bounded slices (``max_keys`` per call, resuming after the last key seen).
An object counts as new when its LastModified is at or after the start of the previous sweep and its
etag differs from the one already requested. So each poll costs at most one slice; every object is
seen once per sweep; a re-upload (new etag, newer LastModified) is found by the next pass over it. The
cursor remembers only objects modified since the current sweep began (the next sweep's candidates), so
its size follows the upload rate, not the bucket size.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from proxygen_core.store.inputs import OUTPUT, Input, classify
from proxygen_core.store.keys import PROXY_DIR
from proxygen_core.store.s3 import ObjectInfo, ObjectStore

EPOCH = "1970-01-01T00:00:00+00:00"
SKEW = timedelta(seconds=2)  # S3 LastModified has 1 s resolution; allow for it


@dataclass
class Cursor:
    after: str = ""  # resume the current sweep after this key
    since: str = EPOCH  # objects modified at/after this are candidates
    sweep_started: str = ""  # server time when the current sweep began
    recent: dict[str, list[str]] = field(default_factory=dict)  # key -> [etag, last_modified] already requested

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None, start: datetime | None = None) -> Cursor:
        """The stored cursor, or a first one that counts objects modified from ``start`` (None: all)."""
        if text:
            return cls(**json.loads(text))
        # LastModified has 1 s resolution: an object written just after the start can read as before it.
        return cls(since=(start.astimezone(UTC) - SKEW).isoformat()) if start else cls()


@dataclass
class Skipped:
    """Listed objects that are not sources, by reason, with a few examples: what a tick passed over. And the
    new versions among the ignored ones (``ignored``): what the caller records once as ``skipped`` rows, so an
    ignored object is said once per version, not in a log line on every sweep."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[tuple[ObjectInfo, Input]] = field(default_factory=list)

    def add(self, reason: str, key: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.examples.setdefault(reason, [])) < 3:
            self.examples[reason].append(key)

    def __str__(self) -> str:
        return "; ".join(f"{n} {reason} (e.g. {', '.join(self.examples[reason])})"
                         for reason, n in sorted(self.counts.items()))


def wanted(key: str, extensions: frozenset[str]) -> bool:
    """A frame source, by the one registry of inputs (store/inputs.py)."""
    return classify(key, extensions).source


def outputs_end(key: str) -> str | None:
    """Past the ``.proxies/`` subtree ``key`` lies in (the key to resume the listing after), or None."""
    marker = key.find(f"{PROXY_DIR}/")
    if marker >= 0 and (marker == 0 or key[marker - 1] == "/"):
        return key[:marker + len(PROXY_DIR) + 1] + "\U0010ffff"
    return None


def is_new(obj: ObjectInfo, since: datetime, changed_since: datetime, recent: dict[str, list[str]]) -> bool:
    """A version not requested yet: modified at/after ``since`` and not the etag already requested. Only an
    object changed during this sweep can be a candidate of the next one, so only those are remembered (in
    ``recent``, updated here): the cursor stays small on a first sweep over a million objects."""
    if obj.last_modified < since or recent.get(obj.key, [None])[0] == obj.etag:
        return False
    if obj.last_modified >= changed_since:
        recent[obj.key] = [obj.etag, obj.last_modified.isoformat()]
    return True


def scan(store: ObjectStore, cursor: Cursor, extensions: frozenset[str], prefix: str = "",
         max_keys: int = 5000, page_size: int = 1000,
         skipped: Skipped | None = None) -> tuple[list[ObjectInfo], Cursor]:
    """One bounded slice of the sweep: the new sources found, and the cursor to store; ``skipped`` (when
    given) counts what was passed over and why, and collects the new versions of ignored objects (what the
    registry of inputs says is neither a source nor our own) for the caller to record."""
    skipped = skipped if skipped is not None else Skipped()
    since = datetime.fromisoformat(cursor.since)
    found: list[ObjectInfo] = []
    seen = 0
    after, started = cursor.after, cursor.sweep_started
    recent = dict(cursor.recent)
    token = None
    finished = False
    while seen < max_keys:
        objects, token, server_date = store.list_page(
            prefix, start_after=after, max_keys=min(page_size, max_keys - seen), continuation=token
        )
        if not started:
            now = parsedate_to_datetime(server_date) if server_date else datetime.now(UTC)
            started = now.astimezone(UTC).isoformat()
        changed_since = datetime.fromisoformat(started) - SKEW  # objects changed during this sweep
        skip_to = None
        for obj in objects:
            seen += 1
            after = obj.key
            skip_to = outputs_end(obj.key)
            if skip_to is not None:  # our own outputs: jump past this whole .proxies/ subtree, unlisted
                skipped.add(OUTPUT.reason, skip_to[:-2])  # the folder
                break
            verdict = classify(obj.key, extensions)
            if not verdict.source:
                skipped.add(verdict.reason, obj.key)
            if (verdict.source or verdict.skipped) and is_new(obj, since, changed_since, recent):
                if verdict.source:
                    found.append(obj)
                else:
                    skipped.ignored.append((obj, verdict))
        if skip_to is not None:
            after, token = skip_to, None
            continue
        if not token:
            finished = True
            break
    if finished:
        new_since = datetime.fromisoformat(started) - SKEW
        recent = {k: v for k, v in recent.items() if datetime.fromisoformat(v[1]) >= new_since}
        return found, Cursor("", new_since.isoformat(), "", recent)
    return found, Cursor(after, cursor.since, started, recent)
