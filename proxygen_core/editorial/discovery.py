"""Which discovered objects are editorial cuts: a key under ``PROXYGEN_EDITORIAL_PREFIX`` whose extension a cut
reader takes (.edl, .otio, .xml, .aaf) is a cut. The registry of inputs (store/inputs.py) classifies such an
object as ``editorial`` (not a frame source); the frame discovery (listing and notifications alike) asks
``cut_keys_among`` about the ignored objects it is about to record, and makes the cuts partitions of the cut
asset instead of ``skipped`` rows. An editorial file outside the prefix (or audio) stays a skipped row."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from proxygen_core.editorial.events import is_cut_file
from proxygen_core.settings import PipelineSettings


class _Object(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def etag(self) -> str: ...


def is_cut_key(key: str, pipeline: PipelineSettings) -> bool:
    prefix = pipeline.editorial_prefix
    return bool(prefix) and key.startswith(prefix) and is_cut_file(key)


def cut_keys_among(objects: Iterable[_Object], pipeline: PipelineSettings) -> dict[str, str]:
    """The cuts among ``objects`` (key -> etag)."""
    return {o.key: o.etag or "" for o in objects if is_cut_key(o.key, pipeline)}
