"""One image sequence from its frames' state to its review clip, poster and catalog row.

Runs after the frames: each member's ``state.json`` says whether that version finished ok (and where
its proxy and thumbnail are) or failed. The clip is made from the per-frame proxy pictures (no source
decode, no colour transform); the poster is a server-side copy of one frame's thumbnail.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxygen_core import __version__
from proxygen_core.errors import ProxygenError, as_proxygen_error
from proxygen_core.events.schema import clip_event_id
from proxygen_core.media import qc
from proxygen_core.media.clips import poster_frame, render_clip
from proxygen_core.media.geometry import resolution
from proxygen_core.media.sequences import parse_frame
from proxygen_core.pipeline.stages import media_tags, utc_now_iso
from proxygen_core.pipeline.state import KeyState, load_state
from proxygen_core.settings import GENERATOR, Settings
from proxygen_core.store.base import Store

POSTER_TAG = "proxygen-poster"  # an object tag on a source frame ("true") makes that frame the poster


@dataclass
class Members:
    states: dict[str, KeyState | None]  # key -> its state (None: not processed yet)
    numbers: dict[str, int]

    def unfinished(self, settings_hash: str) -> list[str]:
        return [k for k, s in self.states.items() if s is None or s.settings_hash != settings_hash]

    def fingerprint(self, settings_hash: str) -> str:
        basis = "|".join(f"{k}@{s.etag if s else '-'}:{s.status if s else '-'}" for k, s in sorted(self.states.items()))
        return hashlib.sha256(f"{basis}|{settings_hash}".encode()).hexdigest()[:24]


def load_members(store: Store, keys: list[str]) -> Members:
    parsed = {k: parse_frame(k) for k in keys}
    numbers = {k: f.frame for k, f in parsed.items() if f is not None}
    return Members({k: load_state(store, k) for k in numbers}, numbers)


def clip_id(bucket: str, pattern: str, profile: str) -> str:
    return hashlib.sha256(f"{bucket}/{pattern}|{profile}|clip".encode()).hexdigest()[:32]


def build_sequence_clip(store: Store, pattern: str, members: Members, settings: Settings,
                        profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The clip row for ``pattern`` (ok or failed), and extras for the UI: the poster's bytes, how each
    gap was filled, the encode time."""
    render = settings.render
    keys = store.clip_keys(pattern)
    numbers_ok = {members.numbers[k]: s for k, s in members.states.items() if s and s.status == "ok" and s.proxy}
    failed = {members.numbers[k] for k, s in members.states.items() if s and s.status == "failed"}
    row: dict[str, Any] = {
        "clip_id": clip_id(store.bucket, pattern, profile), "sequence": pattern, "s3_bucket": store.bucket,
        "output_profile": profile, "render_settings_hash": render.settings_hash(),
        "frames_fingerprint": members.fingerprint(render.settings_hash()),
        "generated_timestamp": utc_now_iso(), "generator_version": f"{GENERATOR} {__version__}", "status": "ok",
    }
    folder = Path(tempfile.mkdtemp(prefix="proxygen-clip-"))
    extras: dict[str, Any] = {"poster": None, "filled": {}, "encode_seconds": 0.0}
    try:
        pictures = {}
        for number, state in sorted(numbers_ok.items()):
            local = folder / f"{number}.mp4"
            local.write_bytes(store.get_bytes(state.proxy["path"]))
            pictures[number] = local
        header = (numbers_ok[min(numbers_ok)].source or {}).get("probe", {}) if numbers_ok else {}
        t0 = time.perf_counter()
        clip = render_clip(pictures, failed, folder / "clip.mp4", render, header.get("fps"), header.get("timecode"),
                           posixpath.basename(pattern))
        check = qc.check_proxy(qc.mp4_info(clip.path), clip.width, clip.height, render.proxy_max_width,
                               render.proxy_max_height)
        if not check.passed:
            raise ProxygenError(store.uri(keys["clip"]), "; ".join(check.problems))
        meta = {"sequence": pattern if len(pattern) < 1000 else "", "frames-fingerprint": row["frames_fingerprint"]}
        stored = store.upload_file(clip.path, keys["clip"], tags=media_tags("clip"), metadata=meta)
        tagged = [n for n, s in numbers_ok.items() if store.tags(s.key).get(POSTER_TAG, "").lower() in ("1", "true", "yes")]
        chosen = poster_frame(list(numbers_ok), tagged[0] if tagged else render.clip_poster_frame)
        thumb = numbers_ok[chosen].thumbnail["path"]
        store.copy(thumb, keys["poster"], tags=media_tags("poster"), metadata={**meta, "poster-frame": str(chosen)})
        extras["poster"] = store.get_bytes(keys["poster"])
        row.update({
            "clip_s3_key": keys["clip"], "poster_s3_key": keys["poster"], "poster_frame": chosen,
            "first_frame": clip.first_frame, "last_frame": clip.last_frame, "frame_count": clip.frame_count,
            "missing_frames": json.dumps(clip.missing_frames), "failed_frames": json.dumps(clip.failed_frames),
            "fps": clip.fps, "start_timecode": clip.start_timecode, "duration_seconds": clip.duration_seconds,
            "clip_resolution": resolution(clip.width, clip.height), "clip_size_bytes": stored.size,
        })
        extras.update(filled=clip.filled, encode_seconds=round(time.perf_counter() - t0, 4))
    except Exception as exc:  # recorded as a failed clip row and event, never dropped
        err = as_proxygen_error(store.uri(pattern), exc)
        numbers = sorted({*numbers_ok, *failed})
        row.update({"status": "failed", "error": f"{type(err).__name__}: {err.cause}",
                    "first_frame": numbers[0] if numbers else None, "last_frame": numbers[-1] if numbers else None,
                    "failed_frames": json.dumps(sorted(failed)), "missing_frames": json.dumps([])})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    row["event_id"] = clip_event_id(row)
    return row, extras
