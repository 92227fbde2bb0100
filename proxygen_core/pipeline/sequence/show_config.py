"""A show's clips' render settings, and a show config that lives in the bucket fetched with the files it needs.

Why a module of its own: a facility config is rarely one file. Its looks and views name LUTs and CDLs
(``FileTransform``) found through its ``search_path``, relative to the config's folder. A config in the bucket
(``PROXYGEN_SHOW_CONFIGS``: ``show=s3://<bucket>/<key>``) is fetched, then every processor the clips will build
(the looks, the display/view, the PQ display/view when an HDR profile is enabled) is made from the local copy;
each file OCIO says it cannot find is fetched from the bucket at the same place relative to the config's key
(each search path in turn), until the processors build. A file that is in none of those places fails that
show's clips at plan time with a ``ColorError`` naming the config, the file and the keys looked at: never a
clip half-rendered. An ``.ocioz`` archive (OCIO's own self-contained form) is used as it is.

The local copy is named by the content of the config and of every file fetched for it
(``$PROXYGEN_LUT_CACHE_DIR/configs/<digest>/``), so a changed LUT is a new config to OCIO's caches and the
engine's, never a stale processor.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from proxygen_core.colour.engine import engine
from proxygen_core.errors import ColorError
from proxygen_core.settings import RenderSettings, lut_cache_dir
from proxygen_core.show_colour import ShowColour, check_config, look_names
from proxygen_core.store.base import Store

MAX_CONFIG_FILES = 256  # files one config may fetch (a loop bound: each round fetches one file or stops)
_MISSING = re.compile(r"file reference '([^']+)' could not be located")


def show_render(store: Store | None, colour: ShowColour, render: RenderSettings, hdr: bool = False) -> RenderSettings:
    """The render settings of a show's clips: its config, display and view, and its PQ display and view
    (show_colour.py). A config in the bucket is fetched with its files (one GET each per plan) and checked now:
    a missing object or file, or a display, view, working space, look or (``hdr``: an HDR profile is enabled)
    PQ display it lacks, is a ColorError naming the object."""
    if all(v is None for v in (colour.config, colour.display, colour.view, colour.hdr_display, colour.hdr_view)):
        return render
    display, view = colour.display or render.proxy_display, colour.view or render.view
    hdr_display, hdr_view = colour.hdr_display or render.hdr_display, colour.hdr_view or render.hdr_view
    config = colour.config or render.ocio_config
    if colour.in_bucket:
        assert store is not None  # a bucket config is only read by a plan, which has its store
        uri = config
        views = [(display, view), (display, render.display_referred_view)] + ([(hdr_display, hdr_view)] if hdr
                                                                               else [])
        config = fetched_config(store, uri, render.working_colorspace, views, colour.looks or "")
        try:
            check_config(engine(config).config, uri, display, view, render.working_colorspace,
                         look_names(colour.looks or ""), (hdr_display, hdr_view) if hdr else None)
        except ValueError as exc:
            raise ColorError(uri, str(exc)) from None
    return replace(render, ocio_config=config, proxy_display=display, view=view, hdr_display=hdr_display,
                   hdr_view=hdr_view)


def config_key(store: Store, uri: str) -> str:
    """The key of an ``s3://<bucket>/<key>`` config in the store's own bucket (another bucket is refused)."""
    rest = uri[len("s3://"):]
    if not rest.startswith(f"{store.bucket}/"):
        raise ColorError(uri, f"{uri}: a show config in the bucket must be in {store.bucket!r}")
    return rest[len(store.bucket) + 1:]


def fetched_config(store: Store, uri: str, working: str, views: list[tuple[str, str]], looks: str) -> str:
    """A local copy of the ``s3://<bucket>/<key>`` config and of the files its processors for ``views`` and
    ``looks`` need, named by their content; raises ColorError when the config or one of its files is missing."""
    key = config_key(store, uri)
    data = store.get_bytes_if_exists(key)
    if data is None:
        raise ColorError(uri, f"{uri}: the show's OCIO config is not in the bucket")
    name = "config.ocioz" if key.lower().endswith(".ocioz") else "config.ocio"
    root = lut_cache_dir() / "configs"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".fetch-{os.getpid()}-", dir=root))
    try:
        (work / name).write_bytes(data)
        fetched: dict[str, bytes] = {}
        if name == "config.ocio":
            fetched = _fetch_files(store, uri, key, work / name, working, views, looks)
        digest = hashlib.sha256(data)
        for rel in sorted(fetched):
            digest.update(f"\0{rel}\0".encode() + fetched[rel])
        final = root / digest.hexdigest()[:24]
        if not final.exists():
            try:
                os.replace(work, final)  # atomic: another process's copy of the same content is the same
            except OSError:
                if not final.exists():
                    raise
        return str(final / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fetch_files(store: Store, uri: str, key: str, path: Path, working: str, views: list[tuple[str, str]],
                 looks: str) -> dict[str, bytes]:
    """Fetch, one by one, the files OCIO cannot find while it builds the clips' processors from ``path``; the
    relative path (in the copy's folder) -> bytes of each."""
    import PyOpenColorIO as ocio

    try:
        config = ocio.Config.CreateFromFile(str(path))
    except Exception as exc:
        raise ColorError(uri, f"{uri}: cannot load OCIO config: {exc}") from None
    folder = posixpath.dirname(key)
    search = list(config.getSearchPaths()) or [""]
    transforms: list[object] = [ocio.DisplayViewTransform(working, d, v) for d, v in views]
    if looks:
        transforms.append(ocio.LookTransform(working, working, looks))
    fetched: dict[str, bytes] = {}
    for _ in range(MAX_CONFIG_FILES):
        try:
            for transform in transforms:
                config.getProcessor(transform)
            return fetched
        except ocio.ExceptionMissingFile as exc:
            found = _MISSING.search(str(exc))
            if found is None:
                raise ColorError(uri, f"{uri}: {exc}") from None
            missing = found.group(1)
        except Exception:
            return fetched  # not a missing file (a view that is not there, ...): check_config names it
        tried = []
        for entry in search:
            rel = posixpath.normpath(posixpath.join(entry, missing))
            candidate = posixpath.normpath(posixpath.join(folder, rel))
            if posixpath.isabs(entry) or posixpath.isabs(rel) or rel.startswith("../") or candidate in tried:
                continue  # only files beside the config, under its folder
            tried.append(candidate)
            body = store.get_bytes_if_exists(candidate)
            if body is not None:
                (path.parent / rel).parent.mkdir(parents=True, exist_ok=True)
                (path.parent / rel).write_bytes(body)
                fetched[rel] = body
                ocio.ClearAllCaches()  # OCIO remembers a file it could not find
                config = ocio.Config.CreateFromFile(str(path))
                break
        else:
            raise ColorError(uri, f"{uri}: file {missing!r} that the config needs is not in the bucket (looked at "
                                  f"{', '.join(tried) or 'no key: its search paths leave the config folder'})")
    raise ColorError(uri, f"{uri}: the config needs more than {MAX_CONFIG_FILES} files")
