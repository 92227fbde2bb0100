"""One build of a cut: read it, match its events, plan the versions, render the movie, write the OTIO and page,
and the cut's row with its event. ``build_cut`` is the one call the Dagster asset and the tests make.

Nothing is published before the movie is made; a cut that cannot be read or rendered gets a failed row naming
why (the line of a malformed EDL), and no other cut or frame is touched.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from proxygen_core.editorial.conform import CutPlan, parse_pins, plan_cut
from proxygen_core.editorial.events import CutParseError, cut_name, read_cut
from proxygen_core.editorial.match import match_cut, parse_match
from proxygen_core.editorial.outputs import cut_keys, cut_page, cut_timeline
from proxygen_core.editorial.render import CutMovie, render_cut
from proxygen_core.errors import as_proxygen_error
from proxygen_core.media.timeline import timeline_json
from proxygen_core.rows import FAILED, OK, ClipRow, CutRow
from proxygen_core.settings import GENERATOR, Settings
from proxygen_core.store.base import Store


def cut_id(bucket: str, key: str, output_profile: str) -> str:
    return hashlib.sha256(f"{bucket}|{key}|{output_profile}|cut".encode()).hexdigest()[:32]


def cut_show(key: str, prefix: str) -> str | None:
    """``editorial/<show>/<cut>.edl`` -> the show (its shots are looked for among that show's clips)."""
    rest = key[len(prefix):] if prefix and key.startswith(prefix) else ""
    parts = rest.split("/")
    return parts[0] if len(parts) > 1 and parts[0] else None


@dataclass
class CutOutcome:
    row: CutRow
    plan: CutPlan | None = None
    movie: CutMovie | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _generator() -> str:
    try:
        from importlib.metadata import version

        return f"{GENERATOR} {version('proxygen')}"
    except Exception:
        return GENERATOR


def plan_of(store: Store, key: str, rows: Iterable[ClipRow], settings: Settings) -> tuple[CutPlan, str]:
    """The cut's plan and its file's etag (raises CutParseError for a cut that cannot be read)."""
    info = store.head(key)
    cut = read_cut(store.get_bytes(key), key, float(settings.render.fps))
    rows = list(rows)
    pipeline = settings.pipeline
    matches = match_cut(cut, {r.shot for r in rows if r.shot}, parse_match(pipeline.cut_match))
    plan = plan_cut(key, cut, matches, rows, pipeline.cut_version, parse_pins(pipeline.cut_pins),
                    cut_show(key, pipeline.editorial_prefix))
    return plan, info.etag or ""


def build_cut(store: Store, key: str, rows: Iterable[ClipRow], settings: Settings, output_profile: str = "review",
              planned_at: int | None = None) -> CutOutcome:
    """Conform the cut at ``key`` against the clip ``rows`` (every version of every shot the catalog has)."""
    planned_at = planned_at if planned_at is not None else int(time.time() * 1000)
    name = cut_name(key)
    keys = cut_keys(key, name)
    row = CutRow(cut_id=cut_id(getattr(store, "bucket", ""), key, output_profile), cut_key=key,
                 s3_bucket=getattr(store, "bucket", ""), output_profile=output_profile, cut_name=name, status=FAILED,
                 planned_at=planned_at, generator_version=_generator(),
                 generated_timestamp=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
    outcome = CutOutcome(row)
    t0 = time.perf_counter()
    try:
        plan, etag = plan_of(store, key, rows, settings)
    except Exception as exc:
        err = exc if isinstance(exc, CutParseError) else as_proxygen_error(store.uri(key), exc)
        outcome.row = row.but(error=f"{type(err).__name__}: {err}")
        return outcome
    outcome.plan = plan
    records = [p.record() for p in plan.events]
    row = row.but(fps=plan.cut.fps, event_count=len(plan.events), cut_etag=etag, fingerprint=plan.fingerprint(etag),
                  matched_events=sum(1 for p in plan.events if p.match.matched), events=json.dumps(records),
                  versions=json.dumps(plan.versions, sort_keys=True), missing_events=json.dumps(plan.missing),
                  warnings=json.dumps(list(plan.warnings)))
    outcome.timings["plan_seconds"] = round(time.perf_counter() - t0, 4)
    folder = tempfile.mkdtemp(prefix="proxygen-cut-")
    try:
        path = os.path.join(folder, posixpath.basename(keys["movie"]))
        movie = render_cut(store, plan, settings.render, path)
        outcome.movie = movie
        store.upload_file(path, keys["movie"], metadata={"cut": key if len(key) < 1000 else "",
                                                         "cut-fingerprint": row.fingerprint or ""})
        timeline = cut_timeline(store, plan, keys["otio"], keys["movie"], settings.pipeline.otio_media)
        store.put_bytes(keys["otio"], timeline_json(timeline).encode(), "application/json")
        store.put_bytes(keys["html"], cut_page(plan, keys, movie.frames).encode(), "text/html; charset=utf-8")
    except Exception as exc:
        err = as_proxygen_error(store.uri(keys["movie"]), exc)
        outcome.row = row.but(error=f"{type(err).__name__}: {err.cause}")
        return outcome
    finally:
        for leftover in os.listdir(folder):
            os.unlink(os.path.join(folder, leftover))
        os.rmdir(folder)
    outcome.timings["render_seconds"] = movie.seconds
    outcome.row = row.but(status=OK, start_timecode=movie.start_timecode, frame_count=movie.frames,
                          duration_seconds=round(movie.frames / plan.cut.fps, 4), movie_s3_key=keys["movie"],
                          otio_s3_key=keys["otio"], html_s3_key=keys["html"])
    return outcome
