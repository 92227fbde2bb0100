"""A cut's marks on the shots it uses, and the release of the working frames it no longer waits for.

With ``until_clips`` retention (``PROXYGEN_WORKING_RETENTION``, the default), a sequence's working frames go
once its clips are built, unless a cut uses its shot: the clip build reads the shot's marker
(store/uses.py, ``<editorial prefix><show>/.proxies/uses/<shot>.json``) and keeps them. So the cut is rendered
from the kept working frames (first generation, no decode of the source). After the cut is built
(``publish_uses``: every matched shot names this cut and the version it showed; a shot dropped from the cut
drops the cut from its marker, removed when empty), ``release_used`` deletes the working frames of each
version the cut showed, once no other cut following that shot's newest version is still built with an older
one. Which shots a cut marked last time is kept beside the markers (``.proxies/uses/.cuts/<digest>.json``):
the store has no listing there.
"""
from __future__ import annotations

import json

from proxygen_core.editorial.conform import OK, CutPlan
from proxygen_core.errors import as_proxygen_error
from proxygen_core.media.sequences import parse_pattern
from proxygen_core.pipeline.sequence.build import release_working_frames
from proxygen_core.pipeline.sequence.members import load_members
from proxygen_core.rows import ClipRow
from proxygen_core.store.base import Store
from proxygen_core.store.keys import key_digest
from proxygen_core.store.uses import CUT_USES, Uses, uses_key


def cut_record_key(editorial_root: str, cut_key: str) -> str:
    """Where a cut's build lists the shots it marked (to unmark those it drops)."""
    return f"{editorial_root}{CUT_USES}.cuts/{key_digest(cut_key, 32)}.json"


def _unmark(store: Store, editorial_root: str, cut_uri: str, shots: set[str]) -> None:
    """Drop the cut from these shots' markers (a marker left with no cut goes)."""
    for shot in sorted(shots):
        key = uses_key(editorial_root, shot)
        uses = Uses.parse(store.get_bytes_if_exists(key))
        if cut_uri not in uses.cuts:
            continue
        uses.drop(cut_uri)
        if uses.cuts:
            store.put_bytes(key, uses.to_json(), "application/json")
        else:
            store.delete(key)


def forget_cut(store: Store, cut_key: str, editorial_root: str) -> int:
    """A cut deleted from the bucket: drop it from every shot it marked and delete its record, so it holds no
    working frames of new versions (the cut sensor calls this once when the cut file is gone). Returns how many
    shots it had marked."""
    record = cut_record_key(editorial_root, cut_key)
    data = store.get_bytes_if_exists(record)
    if data is None:
        return 0
    try:
        shots = set(json.loads(data).get("shots") or ())
    except (ValueError, AttributeError):
        shots = set()
    _unmark(store, editorial_root, store.uri(cut_key), shots)
    store.delete(record)
    return len(shots)


def publish_uses(store: Store, plan: CutPlan, editorial_root: str, pinned: set[str]) -> dict[str, Uses]:
    """Mark every matched shot of ``plan`` as used by this cut (with the version it shows; ``pinned``: the shots
    whose version is pinned), unmark the shots it no longer has; returns shot -> its marker as written. Raises
    StorageError when the store fails (the build fails, naming the key)."""
    cut_uri = store.uri(plan.key)
    versions = plan.versions
    shots = sorted({p.match.shot for p in plan.events if p.match.shot})
    record = cut_record_key(editorial_root, plan.key)
    before = store.get_bytes_if_exists(record)
    try:
        marked = set(json.loads(before).get("shots") or ()) if before is not None else set()
    except (ValueError, AttributeError):
        marked = set()
    markers: dict[str, Uses] = {}
    _unmark(store, editorial_root, cut_uri, marked - set(shots))  # dropped from the cut
    for shot in shots:
        key = uses_key(editorial_root, shot)
        existing = store.get_bytes_if_exists(key)
        uses = Uses.parse(existing)
        uses.set(cut_uri, versions.get(shot), shot in pinned)
        text = uses.to_json()
        if text != existing:
            store.put_bytes(key, text, "application/json")
        markers[shot] = uses
    if set(shots) != marked:
        store.put_bytes(record, json.dumps({"cut": cut_uri, "shots": shots}).encode(), "application/json")
    return markers


def used_rows(plan: CutPlan) -> dict[tuple[str, int], ClipRow]:
    """(shot, version) -> the review clip row of each version the cut shows."""
    return {(p.match.shot, p.version): p.row for p in plan.events
            if p.state == OK and p.row is not None and p.match.shot and p.version is not None}


def version_frame_keys(row: ClipRow) -> list[str]:
    """A version's frame keys, first to last (its clip row's pattern and range; missing ones are skipped later)."""
    if row.first_frame is None or row.last_frame is None:
        return []
    seq, padding = parse_pattern(row.sequence)
    return [seq.frame_key(n, padding) for n in range(row.first_frame, row.last_frame + 1)]


def release_used(store: Store, plan: CutPlan, markers: dict[str, Uses]) -> tuple[int, list[str]]:
    """Release the working frames of each version the cut showed that no cut is waiting for (``Uses.waiting``);
    returns how many were deleted, and a warning per version whose release failed (the cut is built: the frames
    just stay, a lifecycle rule or the next build of the cut removes them). Only with ``until_clips`` retention:
    the caller checks."""
    released, warnings = 0, []
    for (shot, version), row in sorted(used_rows(plan).items()):
        uses = markers.get(shot)
        if uses is None or uses.waiting(version):
            continue
        try:
            released += release_working_frames(store, load_members(store, version_frame_keys(row)), release=True)
        except Exception as exc:
            err = as_proxygen_error(store.uri(row.sequence), exc)
            warnings.append(f"{shot} v{version:03d}: its working frames were not released: {err.cause}")
    return released, warnings
