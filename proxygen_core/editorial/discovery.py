"""Which discovered keys are editorial cuts: a key under ``PROXYGEN_EDITORIAL_PREFIX`` whose extension a cut
reader takes (.edl, .otio, .xml, .aaf) is a cut, never a frame. One rule for the bucket listing and the
notifications: the frame discovery asks ``split_cuts`` before it plans any frame run."""
from __future__ import annotations

from proxygen_core.editorial.events import ADAPTERS, is_cut_file
from proxygen_core.settings import PipelineSettings

CUT_EXTENSIONS = frozenset(ADAPTERS)


def is_cut_key(key: str, pipeline: PipelineSettings) -> bool:
    prefix = pipeline.editorial_prefix
    return bool(prefix) and key.startswith(prefix) and is_cut_file(key)


def discovered_extensions(pipeline: PipelineSettings) -> frozenset[str]:
    """What the discovery lists: the frames' extensions, and the cuts' when an editorial prefix is set."""
    return pipeline.extension_set() | (CUT_EXTENSIONS if pipeline.editorial_prefix else frozenset())


def split_cuts(etags: dict[str, str], pipeline: PipelineSettings) -> tuple[dict[str, str], dict[str, str]]:
    """(frames, cuts) of the keys found (key -> etag). A key with a cut's extension outside the prefix (and not
    a frame extension) is neither: dropped here, as the listing would have without the cut extensions."""
    frames_ext = pipeline.extension_set()
    frames: dict[str, str] = {}
    cuts: dict[str, str] = {}
    for key, etag in etags.items():
        if is_cut_key(key, pipeline):
            cuts[key] = etag
        elif any(key.lower().endswith(e) for e in frames_ext):
            frames[key] = etag
    return frames, cuts
