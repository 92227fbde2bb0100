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


def marked_shots(store: Store, editorial_root: str, cut_key: str) -> set[str]:
    """The shots the cut's last build marked (its record), empty when it has none or it cannot be read."""
    data = store.get_bytes_if_exists(cut_record_key(editorial_root, cut_key))
    try:
        return set(json.loads(data).get("shots") or ()) if data is not None else set()
    except (ValueError, AttributeError):
        return set()


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
    from proxygen_core.editorial.grades import drop_grades  # grades imports this module

    record = cut_record_key(editorial_root, cut_key)
    if store.get_bytes_if_exists(record) is None:
        return 0
    shots = marked_shots(store, editorial_root, cut_key)
    _unmark(store, editorial_root, store.uri(cut_key), shots)
    drop_grades(store, editorial_root, store.uri(cut_key), shots)  # its event CDLs are no grade any more
    store.delete(record)
    return len(shots)


def publish_uses(store: Store, plan: CutPlan, editorial_root: str,
                 pinned: set[str]) -> tuple[dict[str, Uses], dict[str, int | None]]:
    """Mark every matched shot of ``plan`` as used by this cut (with the version it shows; ``pinned``: the shots
    whose version is pinned), unmark the shots it no longer has; returns shot -> its marker as written, and
    shot -> the version this cut held before (None: new to it). Raises StorageError when the store fails (the
    build fails, naming the key)."""
    cut_uri = store.uri(plan.key)
    versions = plan.versions
    shots = sorted({p.match.shot for p in plan.events if p.match.shot})
    record = cut_record_key(editorial_root, plan.key)
    marked = marked_shots(store, editorial_root, plan.key)
    markers: dict[str, Uses] = {}
    previous: dict[str, int | None] = {}  # shot -> the version this cut held before this build
    _unmark(store, editorial_root, cut_uri, marked - set(shots))  # dropped from the cut
    for shot in shots:
        key = uses_key(editorial_root, shot)
        existing = store.get_bytes_if_exists(key)
        uses = Uses.parse(existing)
        previous[shot] = uses.cuts.get(cut_uri)
        uses.set(cut_uri, versions.get(shot), shot in pinned)
        text = uses.to_json()
        if text != existing:
            store.put_bytes(key, text, "application/json")
        markers[shot] = uses
    if set(shots) != marked:
        store.put_bytes(record, json.dumps({"cut": cut_uri, "shots": shots}).encode(), "application/json")
    return markers, previous


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


def skipped_rows(plan: CutPlan, markers: dict[str, Uses],
                 previous: dict[str, int | None]) -> dict[tuple[str, int], ClipRow]:
    """The versions this cut went past (newer than the one it held, older than the one it shows now: v002 when
    v003 landed before the cut was built again) that no cut wants any more: their frames were kept for it."""
    shown = plan.versions
    out: dict[tuple[str, int], ClipRow] = {}
    for row in plan.candidates:
        shot, version = row.shot, row.version
        held = previous.get(shot or "")
        if (not shot or version is None or held is None or shot not in shown or shot not in markers
                or not held < version < shown[shot] or markers[shot].wanted(version)):
            continue
        out[(shot, version)] = row
    return out


def release_used(store: Store, plan: CutPlan, markers: dict[str, Uses],
                 previous: dict[str, int | None] | None = None) -> tuple[int, list[str]]:
    """Release the working frames of each version the cut showed that no cut is waiting for (``Uses.waiting``),
    and of each version it went past that no cut wants (``skipped_rows``); returns how many were deleted, and a
    warning per version whose release failed (the cut is built: the frames just stay, a lifecycle rule or the
    next build of the cut removes them). Only with ``until_clips`` retention: the caller checks."""
    released, warnings = 0, []
    shown = {k: r for k, r in used_rows(plan).items()
             if markers.get(k[0]) is not None and not markers[k[0]].waiting(k[1])}
    for (shot, version), row in sorted({**shown, **skipped_rows(plan, markers, previous or {})}.items()):
        try:
            released += release_working_frames(store, load_members(store, version_frame_keys(row)), release=True)
        except Exception as exc:
            err = as_proxygen_error(store.uri(row.sequence), exc)
            warnings.append(f"{shot} v{version:03d}: its working frames were not released: {err.cause}")
    return released, warnings
