"""The local front door: ``proxygen render`` is the frame chain over a folder (``store.local.LocalStore``).

Same stages, same QC, same ownership rule, same result type and report as the pipeline; each source's
report is written beside its outputs as ``<name>.json``, and the frames that form image sequences get
their clip and poster through the pipeline's own sequence stage. A file the registry of inputs does not
give to the frame chain (store/inputs.py: a ``.psd``, a grade sidecar) is skipped with its reason, in a
``<file name>.skipped.json`` report, exactly as the pipeline records a ``skipped`` row for it.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from proxygen_core.media.sequences import group, parse_frame
from proxygen_core.pipeline.chain import KeyResult, run_chain
from proxygen_core.pipeline.sequence import build_clips_of, load_members, release_working_frames
from proxygen_core.pipeline.stages import output_keys_for
from proxygen_core.rows import ClipRow
from proxygen_core.settings import GENERATOR, PipelineSettings, Settings
from proxygen_core.store.identity import identify
from proxygen_core.store.inputs import Input
from proxygen_core.store.local import LocalStore

SKIPPED_REPORT = ".skipped.json"  # never a frame's report name: a skipped file owns no stem


# How many sources ``render_files`` renders at once. One frame's chain keeps ~1.3 of 2 cores busy (its decode,
# colour and resize are spread over the native pool, its encodes and file writes are not); two in flight keep
# them all busy (docs/benchmarks.md, "A shot"). More gains nothing and holds another frame's memory.
FRAMES_IN_FLIGHT = 2


def local_settings(settings: Settings, keep_working: bool = False) -> Settings:
    """The local door keeps working frames only until its sequences' clips are made, unless asked to keep
    them: a folder of renders is not a pipeline that re-renders from them, and they cost several times the
    sources' bytes. Such scratch frames are written uncompressed (read back once, from a local disk, by the
    same process: piz costs ~0.1 CPU-s a 2K frame each way; docs/benchmarks.md, "A shot") unless another
    compression than the default was set."""
    pipeline = replace(settings.pipeline, working_retention="keep" if keep_working else "until_clips")
    if not keep_working and settings.pipeline.working_compression == PipelineSettings.working_compression:
        pipeline = replace(pipeline, working_compression="none")
    return replace(settings, pipeline=pipeline)


def render_files(sources: list[str], out_dir: str | os.PathLike[str], settings: Settings, store: LocalStore,
                 keep_working: bool = False, jobs: int = FRAMES_IN_FLIGHT,
                 done: Callable[[int, KeyResult], None] | None = None) -> list[KeyResult]:
    """``render_file`` of every source, ``jobs`` at a time; the results in the sources' order, ``done(i, result)``
    called as each one ends (one call at a time). Sources that would share an output name (``a.0001.exr``
    beside ``a.0001.tif``) run one after the other in the order given, so the first still owns the plain name
    (``output_keys_for`` reads the owner before it writes: two at once could both take it)."""
    lanes: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        lanes.setdefault(store.output_keys(os.path.abspath(source)).thumbnail, []).append(index)
    results: list[KeyResult | None] = [None] * len(sources)
    lock = threading.Lock()

    def lane(indexes: list[int]) -> None:
        for index in indexes:
            result = results[index] = render_file(sources[index], out_dir, settings, store, keep_working)
            if done is not None:
                with lock:
                    done(index, result)

    if jobs <= 1 or len(lanes) <= 1:
        for indexes in lanes.values():
            lane(indexes)
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="proxygen-frame") as pool:
            for future in [pool.submit(lane, indexes) for indexes in lanes.values()]:
                future.result()  # the first error raised ends the command, as one frame at a time would
    return [r for r in results if r is not None]


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


def skip_file(source: str | os.PathLike[str], verdict: Input, store: LocalStore, settings: Settings) -> dict[str, Any]:
    """The report of a file the frame chain does not take: what it is and why it is skipped, beside the outputs
    as ``<file name>.skipped.json`` (kinds that are never recorded, our own outputs, write none). Why a file: a
    skipped source must leave a trace, as its ``skipped`` row does in the pipeline, not vanish from the folder."""
    from proxygen_core import __version__

    key = os.path.abspath(source)
    info = store.head(key)
    report = {"source": key, "status": "skipped", "input": verdict.kind.name, "reason": verdict.reason,
              "generator": f"{GENERATOR} {__version__}", **identify(key, settings.pipeline.key_layout()).report(),
              "source_size_bytes": info.size, "etag": info.etag, "mtime": info.mtime}
    if verdict.skipped:
        path = store.root / f"{os.path.basename(key)}{SKIPPED_REPORT}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, default=str))
    return report


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
        first = parse_frame(frames[min(frames)])
        assert first is not None  # group() keeps keys with a frame number only
        pattern = seq.pattern(first.padding)
        members = load_members(store, list(frames.values()))
        rows += [o.row for o in build_clips_of(store, pattern, members, settings, output_profile)[1]
                 if not o.superseded]  # one process here: a frame changing under the build is another user
    if not keep_working:
        release_working_frames(store, load_members(store, [r.key for r in results]), release=True)
    return rows

