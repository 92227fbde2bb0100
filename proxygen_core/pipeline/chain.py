"""The whole chain for one source key, over any store: source -> working frame -> thumbnail -> proxy ->
preview (when enabled) -> state. Both front doors run it: the pipeline over the S3 bucket, ``proxygen
render`` over a local folder, so the same source and settings give the same pictures, QC and report.

Each stage is one function of ``stages`` with typed input and output; this module decides which of
them run for a (possibly partial) selection, reuses what the key's stored state already holds, and
turns anything that goes wrong into ``KeyResult.failed`` naming the stage and the cause. Transient
storage failures (S3 down, timeouts) are retried with backoff for a bounded time; content failures
(a corrupt file) are not.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from proxygen_core import __version__
from proxygen_core.colour.grades import Grade, grade_for
from proxygen_core.errors import ProxygenError, WorkerMemoryError, as_proxygen_error
from proxygen_core.media.frame import WorkingFrame
from proxygen_core.media.output import Media
from proxygen_core.media.sequences import parse_frame
from proxygen_core.pipeline import state as st
from proxygen_core.pipeline.outputs import OUTPUT_BY_STAGE, OUTPUT_KINDS, OutputKind

# the output stages' names, where the chain's callers find every stage name
from proxygen_core.pipeline.outputs import PREVIEW as PREVIEW
from proxygen_core.pipeline.outputs import PROXY as PROXY
from proxygen_core.pipeline.outputs import THUMBNAIL as THUMBNAIL
from proxygen_core.pipeline.stages import (
    Failed,
    SourceFrame,
    Thumbnail,
    frame_info,
    inspect_source,
    output_keys_for,
    scratch_dir,
    working_frame,
)
from proxygen_core.settings import GENERATOR, Settings
from proxygen_core.store.base import Store
from proxygen_core.store.identity import identify
from proxygen_core.store.keys import OutputKeys, frame_number
from proxygen_core.store.s3 import ObjectInfo
from proxygen_core.store.uses import cut_wants, shot_uses_key

SOURCE, WORKING, RECORD = "source_frame", "working_frame", "proxy_record"
OUTPUTS = tuple(kind.stage for kind in OUTPUT_KINDS)  # in the registry's order (pipeline/outputs.py)
STAGES = (SOURCE, WORKING, *OUTPUTS, RECORD)
T = TypeVar("T")


def stages_for(settings: Settings) -> tuple[str, ...]:
    """The stages this deployment runs: every output kind it enables (the preview tier only when enabled)."""
    return tuple(s for s in STAGES if s not in OUTPUT_BY_STAGE or OUTPUT_BY_STAGE[s].enabled(settings))


@dataclass
class KeyResult:
    """What one key's chain produced, for every caller: per-stage metadata, the catalog row, the report."""

    key: str
    uri: str = ""
    info: ObjectInfo | None = None
    source: SourceFrame | None = None
    frame_info: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    thumbnail: Media | None = None
    proxy: Media | None = None
    preview: Media | None = None
    thumbnail_jpeg: bytes | None = None  # the thumbnail's bytes, for the UI
    exposure: dict[str, float] | None = None
    warnings: dict[str, str] = field(default_factory=dict)  # check name -> problem (not a failure)
    passed: list[str] = field(default_factory=list)  # stages this key completed, in order
    stage: str = SOURCE  # the stage running (or, after a failure, the one that failed)
    failed: Failed | None = None
    seconds: float = 0.0
    attempts: int = 1
    reused: bool = False  # taken from the state of a version that already finished (a retried batch)
    # show, seq, shot, task, version, identity_template, identity_problem (the key templates: store/identity.py)
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed is None

    def report(self) -> dict[str, Any]:
        """The JSON report of this key: what ``proxygen render`` writes beside its outputs and what the
        pipeline keeps in its state; the same fields through both doors."""
        info = self.frame_info or {}
        made = {kind.stage: getattr(self, kind.stage) for kind in OUTPUT_KINDS}
        media = {name: ({**asdict(m), "resolution": m.resolution} if m is not None and self.ok else None)
                 for name, m in made.items()}
        return {
            "source": self.uri or self.key, "status": "ok" if self.ok else "failed",
            "generator": f"{GENERATOR} {__version__}", **self.identity,
            **{k: info.get(k) for k in ("source_colorspace", "colorspace_rule", "review_layer", "display_referred",
                                        "view", "source_resolution", "working_resolution", "nonfinite_pixels",
                                        "pixel_aspect_ratio", "display_resolution")},
            "source_size_bytes": self.info.size if self.info else None,
            **media,
            "warnings": dict(self.warnings),
            "timings": {**self.timings, **{name: m.seconds for name, m in made.items() if m is not None},
                        "total": round(self.seconds, 4)},
            "failed_step": self.failed.step if self.failed else None,
            "error": self.failed.error if self.failed else None,
        }


def run_chain(store: Store, key: str, settings: Settings, stages: frozenset[str] | None = None,
              sleep: Callable[[float], None] = time.sleep, reuse_finished: bool = False) -> KeyResult:
    """Run the selected stages (default: all this deployment runs) for one key, retrying transient storage
    failures within the budget.

    ``reuse_finished``: a retried batch (a step retried for another key's storage trouble, a run restarted
    after its worker died, a run the follow_upstream sensor asked for) takes a key whose current version already
    finished, ok or failed for its content, from its state: nothing is fetched, decoded or published again
    for it. If the state cannot be read, the chain runs as usual (and reports what goes wrong)."""
    stages = frozenset(stages_for(settings)) if stages is None else stages
    if reuse_finished:
        try:
            finished = finished_result(store, key, settings, stages)
        except ProxygenError:
            finished = None
        if finished is not None:
            return finished
    budget = settings.pipeline.transient_retry_seconds
    started = time.monotonic()
    delay, attempt = 1.0, 1
    while True:
        result = _Attempt(store, key, settings, stages).run()
        result.attempts = attempt
        if (result.failed is None or not result.failed.transient or time.monotonic() - started + delay > budget
                or result.failed.error.get("kind") == WorkerMemoryError.kind):  # the same process: no use trying
            return result
        sleep(delay)
        delay, attempt = min(delay * 2, 15.0), attempt + 1


def finished_result(store: Store, key: str, settings: Settings, stages: frozenset[str]) -> KeyResult | None:
    """The result of a key whose current version (etag) already finished with these render settings, from its
    state alone (one HEAD, no download); None when it must run."""
    previous = st.load_state(store, key)
    if previous is None or previous.settings_hash != settings.render.settings_hash():
        return None
    info = store.head(key)
    if previous.etag != info.etag:
        return None
    r = KeyResult(key, uri=store.uri(key), info=info, frame_info=previous.frame_info, reused=True,
                  identity=identify(key, settings.pipeline.key_layout()).report())
    r.source = SourceFrame(**previous.source) if previous.source else None
    order = [s for s in STAGES if s in needed(stages)]
    if previous.status == "failed":
        stage = previous.failed_step or SOURCE
        r.failed = Failed(key, stage, previous.error or {})
        r.passed = [s for s in order[:order.index(stage)] if s != SOURCE or r.source] if stage in order else []
        return r
    media = {stage: getattr(previous, stage) for stage in OUTPUTS}
    if r.source is None or any(media.get(s) is None for s in order if s in OUTPUTS):
        return None  # an older state that lacks an output this run wants: make it
    for stage, kept in media.items():
        setattr(r, stage, Media(**kept) if kept else None)
    r.passed = order
    return r


# What each stage is made from: a partial run computes what it needs and reuses the rest from state.
NEEDS: dict[str, tuple[str, ...]] = {SOURCE: (), WORKING: (SOURCE,), **{stage: (WORKING,) for stage in OUTPUTS},
                                     RECORD: (THUMBNAIL, PROXY)}


def needed(stages: frozenset[str]) -> set[str]:
    out: set[str] = set()
    todo = list(stages)
    while todo:
        stage = todo.pop()
        if stage not in out:
            out.add(stage)
            todo.extend(NEEDS[stage])
    return out


class _Attempt:
    """One pass over the stages of one key (``run_chain`` repeats it on transient failures)."""

    def __init__(self, store: Store, key: str, settings: Settings, stages: frozenset[str]) -> None:
        self.store, self.key, self.settings, self.stages = store, key, settings, stages
        self.need = needed(stages)
        self.result = KeyResult(key, uri=store.uri(key),
                                identity=identify(key, settings.pipeline.key_layout()).report())
        self.previous: st.KeyState | None = None
        self.folder: Path | None = None

    def kept(self, stage: str) -> Any:
        """The stored value of a stage this run does not recompute (same etag and settings only)."""
        if self.previous is None or stage in self.stages:
            return None
        if stage == SOURCE:
            return self.previous.source
        return self.previous.working_exr if stage == WORKING else getattr(self.previous, stage)

    def step(self, stage: str, make: Callable[[], T]) -> T:
        self.result.stage = stage
        value = make()
        self.result.passed.append(stage)
        return value

    def run(self) -> KeyResult:
        r, render = self.result, self.settings.render
        t0 = time.perf_counter()
        try:
            info = r.info = self.store.head(self.key)
            self.previous = self._reusable_state(info)
            kept = self.kept(SOURCE)
            r.source = self.step(SOURCE, lambda: SourceFrame(**kept) if kept else
                                 inspect_source(self.store, info, render.max_pixels))
            todo = [s for s in OUTPUTS if s in self.need and self.kept(s) is None]
            frame = self._working(todo)
            outs = output_keys_for(self.store, self.key) if todo else None
            if todo:
                self.folder = scratch_dir(self.store.scratch_root())
            for kind in OUTPUT_KINDS:
                if kind.stage in self.need:
                    setattr(r, kind.stage, self.step(kind.stage, partial(self._output, kind, frame, outs)))
            self.step(RECORD, lambda: self._save_state(frame))
        except Exception as exc:  # recorded on the result (row, event, report, UI failure), never dropped
            r.failed = Failed(self.key, r.stage, as_proxygen_error(self.store.uri(self.key), exc).to_dict())
            if not r.failed.transient and r.info is not None:
                self._save_failed_state()
        finally:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
            if r.info is not None:
                self.store.evict(r.info)
            r.seconds = time.perf_counter() - t0
        return r

    def _reusable_state(self, info: ObjectInfo) -> st.KeyState | None:
        """A partial re-run reuses stages of this very version only; a full run reads nothing."""
        if self.stages >= {SOURCE, WORKING, THUMBNAIL, PROXY}:
            return None
        previous = st.load_state(self.store, self.key)
        if previous and previous.etag == info.etag and previous.status == "ok" \
                and previous.settings_hash == self.settings.render.settings_hash():
            return previous
        return None

    def _working(self, todo: list[str]) -> WorkingFrame | None:
        """Decode once when any output must be made (or the working frame itself was asked for); a partial
        re-run may read the stored working EXR instead, except for the preview, which needs full resolution."""
        r = self.result
        if WORKING not in self.stages and not todo:
            if WORKING in self.need:
                r.passed.append(WORKING)
            r.frame_info = self.previous.frame_info if self.previous else None
            return None
        stored = self.kept(WORKING) if not any(OUTPUT_BY_STAGE[s].full_resolution for s in todo) else None
        source = r.source
        assert source is not None  # the source stage ran before this one
        frame = self.step(WORKING, lambda: working_frame(self.store, source, self.settings.render, stored))
        r.frame_info = frame_info(frame)
        r.timings.update({n: round(v, 4) for n, v in frame.timings.items()})
        r.warnings.update(frame.warnings)  # what the decode made of an odd source (an empty deep image)
        if self.settings.pipeline.grade_frames:
            frame.grade = self._frame_grade(source.key)
        return frame

    def _frame_grade(self, key: str) -> Grade | None:
        """With ``grade_frames``, a sequence frame's grade (the clips' rule, colour/grades.py). A grade that cannot
        be read never fails the frame: it is rendered ungraded, with a ``grade`` warning (its clips fail)."""
        frame = parse_frame(key)
        if frame is None:
            return None
        try:
            return grade_for(self.store, frame.sequence.pattern(frame.padding), key, self.settings.pipeline)
        except ProxygenError as exc:
            self.result.warnings["grade"] = f"not graded: {exc.cause}"
            return None

    def _made_from(self, frame: WorkingFrame | None,
                   outs: OutputKeys | None) -> tuple[WorkingFrame, OutputKeys, Path, SourceFrame]:
        """What an output is made from. An output is made only when it is to do (``todo`` in ``run``): then the
        frame was decoded, and the output keys and scratch folder set, after the source stage."""
        assert frame is not None and outs is not None and self.folder is not None and self.result.source is not None
        return frame, outs, self.folder, self.result.source

    def _output(self, kind: OutputKind, frame: WorkingFrame | None, outs: OutputKeys | None) -> Media:
        """One output: kept from this version's state when this run does not remake it, else made."""
        kept = self.kept(kind.stage)
        if kept:
            return Media(**kept)
        made_from, keys, folder, source = self._made_from(frame, outs)
        made = kind.make(self.store, made_from, keys, self.settings, folder, source)
        if isinstance(made, Thumbnail):  # the thumbnail also carries its bytes (the UI) and its exposure
            self.result.thumbnail_jpeg, self.result.exposure = made.jpeg, made.exposure
            if made.exposure_problem:
                self.result.warnings["exposure"] = made.exposure_problem
            return made.media
        return made

    def _save_state(self, frame: WorkingFrame | None) -> None:
        """What this version produced (the sensor skips it from now on); the working frame is kept per the
        retention setting."""
        r, pipeline, previous = self.result, self.settings.pipeline, self.previous
        exr = previous.working_exr if previous else None
        if frame is not None and WORKING in self.stages:
            planes, number = None, frame_number(self.key)
            if self.settings.stores_working(number) or (pipeline.keeps_working(number) and self._cut_wants()):
                exr = st.store_working(self.store, self.key, frame, pipeline.working_compression)
            else:  # none kept for this source (retention, or its clips read the planes): no stale one stays
                self.store.delete(self.store.state_key(self.key, st.WORKING))
                exr = None
            if (pipeline.keeps_working(number) and frame.review_planes is not None
                    and any(p.primary for p in pipeline.profiles())):
                planes = st.store_review_planes(self.store, self.key, frame.review_planes)
            if planes is None:
                self.store.delete(self.store.state_key(self.key, st.REVIEW_PLANES))
        else:
            planes = previous.review_planes if previous else None

        def pick(new: Media | None, old: str) -> dict | None:
            return asdict(new) if new is not None else (getattr(previous, old) if previous else None)

        assert r.info is not None and r.source is not None  # the head and the source stage came first
        made: dict[str, Any] = {kind.stage: pick(getattr(r, kind.stage), kind.stage) for kind in OUTPUT_KINDS}
        st.save_state(self.store, st.KeyState(
            self.key, r.info.etag, self.settings.render.settings_hash(), "ok", asdict(r.source), r.frame_info,
            working_exr=exr, review_planes=planes,
            **made))

    def _cut_wants(self) -> bool:
        """Whether a cut will show this source's version of its shot (store/uses.py): then its working frame is
        written even where its clips would not read it, so the cut is built from it (docs/editorial.md)."""
        identity = identify(self.key, self.settings.pipeline.key_layout()).columns()
        return cut_wants(self.store, shot_uses_key(self.store, identity, self.settings), identity.get("version"))

    def _save_failed_state(self) -> None:
        """Remember that this version failed for its content, so the sensor does not request it again."""
        r = self.result
        assert r.info is not None and r.failed is not None  # called for a failed run that had its head
        try:
            st.save_state(self.store, st.KeyState(self.key, r.info.etag, self.settings.render.settings_hash(),
                                                  "failed", asdict(r.source) if r.source else None, r.frame_info,
                                                  error=r.failed.error, failed_step=r.failed.step))
        except ProxygenError as exc:
            # The failure itself is in the row; without this state the sensor offers the key again, which
            # re-records the same failure. Reported on the partition, not hidden.
            r.warnings["state"] = f"failure state not saved: {exc.cause}"
