"""The local front door: ``proxygen render`` is the frame chain over a folder (``store.local.LocalStore``).

Same stages, same QC, same ownership rule, same result type and report as the pipeline; each source's
report is written beside its outputs as ``<name>.json``, and the frames that form image sequences get
their clip and poster through the pipeline's own sequence stage.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from proxygen_core.media.sequences import group, parse_frame
from proxygen_core.pipeline.chain import KeyResult, run_chain
from proxygen_core.pipeline.sequence import build_clips_of, load_members, release_working_frames
from proxygen_core.pipeline.stages import output_keys_for
from proxygen_core.rows import ClipRow
from proxygen_core.settings import Settings
from proxygen_core.store.local import LocalStore


def local_settings(settings: Settings, keep_working: bool = False) -> Settings:
    """The local door keeps working frames only until its sequences' clips are made, unless asked to keep
    them: a folder of renders is not a pipeline that re-renders from them, and they cost several times the
    sources' bytes."""
    return replace(settings, pipeline=replace(settings.pipeline,
                                              working_retention="keep" if keep_working else "until_clips"))


def render_file(source: str | os.PathLike[str], out_dir: str | os.PathLike[str], settings: Settings,
                store: LocalStore | None = None, keep_working: bool = False) -> KeyResult:
    """Run the chain for one file into ``out_dir``: ``<name>_thumb.jpg``, ``<name>_proxy.mp4``, ``<name>.json``
    (``<name>`` is the stem, or the file name when a same-stem sibling already owns the stem)."""
    store = store or LocalStore(out_dir)
    key = os.path.abspath(source)
    result = run_chain(store, key, local_settings(settings, keep_working))
    name = _report_name(store, result)
    path = store.root / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.report(), indent=2, default=str))
    return result


def _report_name(store: LocalStore, result: KeyResult) -> str:
    """The report sits beside the thumbnail it describes: the same (possibly extension-qualified) name, by the
    same ownership rule for a source that failed before it had a thumbnail."""
    thumb = result.thumbnail.path if result.thumbnail is not None else output_keys_for(store, result.key).thumbnail
    return Path(thumb).name.removesuffix("_thumb.jpg")


def write_sequence_clips(results: list[KeyResult], store: LocalStore, settings: Settings,
                         keep_working: bool = False, output_profile: str = "review") -> list[ClipRow]:
    """The clip rows (ok or failed, one per enabled clip profile) of the image sequences among ``results``,
    each made by the pipeline's sequence stage over the local store. Then no working frame stays unless
    asked: a numbered frame that formed no sequence has no clip to wait for here."""
    settings = local_settings(settings, keep_working)
    rows: list[ClipRow] = []
    for seq, frames in group([r.key for r in results]).items():
        pattern = seq.pattern(parse_frame(frames[min(frames)]).padding)
        members = load_members(store, list(frames.values()))
        rows += [o.row for o in build_clips_of(store, pattern, members, settings, output_profile)[1]]
    if not keep_working:
        release_working_frames(store, load_members(store, [r.key for r in results]), until_clips=True)
    return rows

