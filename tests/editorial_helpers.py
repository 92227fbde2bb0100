"""Shots for the editorial tests: tiny EXR sequences whose pictures carry a binary code of their frame number,
version and shot (16 patches of 8 px), rendered through the real chain and sequence stage; and the code read
back from a decoded movie's luma."""
from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from proxygen_core.media.samples import CHROMATICITIES, write_exr
from proxygen_core.pipeline.folder import render_file, write_sequence_clips
from proxygen_core.pipeline.sequence import build_clips_of, load_members
from proxygen_core.rows import ClipRow
from proxygen_core.settings import PipelineSettings, Settings
from proxygen_core.store.local import LocalStore

W, H = 128, 72
PATCH, BITS = 8, 16
SHOT_CODES = {"sh010": 1, "sh020": 2, "sh030": 3}
SETTINGS = Settings(pipeline=PipelineSettings(clip_profiles="review"))


def code(shot: str, version: int, frame: int) -> int:
    return (SHOT_CODES[shot] << 14) | ((version & 7) << 11) | (frame & 0x7FF)


def decode_code(value: int) -> tuple[str, int, int]:
    shots = {v: k for k, v in SHOT_CODES.items()}
    return shots.get(value >> 14, "?"), (value >> 11) & 7, value & 0x7FF


def picture(value: int) -> np.ndarray:
    """Mid grey, with the 16 bits as black / bright patches across rows 16-56."""
    img = np.full((H, W, 3), 0.18, np.float32)
    for bit in range(BITS):
        img[16:56, bit * PATCH:(bit + 1) * PATCH] = 4.0 if value >> bit & 1 else 0.0
    return img


def read_code(luma: np.ndarray) -> int:
    """The code from a decoded picture's Y' plane (8-bit): each patch's centre against the middle level."""
    value = 0
    for bit in range(BITS):
        patch = luma[28:44, bit * PATCH + 2:(bit + 1) * PATCH - 2]
        if float(patch.mean()) > 128:
            value |= 1 << bit
    return value


def render_shot(root: Path, out: LocalStore, shot: str, version: int, frames: range,
                settings: Settings = SETTINGS, retention: str = "keep") -> ClipRow:
    """shows/demo/sq010/<shot>/comp/v<version>/<shot>_comp_v<version>.<frame>.exr through the chain, then its
    review clip; returns the clip row (ok). ``retention="until_clips"``: the clip is built by the pipeline's
    sequence stage with that retention (as the Dagster job does), not the local door's (which keeps or drops all)."""
    folder = root / "shows" / "demo" / "sq010" / shot / "comp" / f"v{version:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for n in frames:
        path = folder / f"{shot}_comp_v{version:03d}.{n:04d}.exr"
        write_exr(path, picture(code(shot, version, n)), CHROMATICITIES["ACEScg"])
        results.append(render_file(path, out.root, settings, out, keep_working=True))
    if retention == "until_clips":
        until = replace(settings, pipeline=replace(settings.pipeline, working_retention="until_clips"))
        pattern = str(folder / f"{shot}_comp_v{version:03d}.####.exr")
        _, outcomes = build_clips_of(out, pattern, load_members(out, [r.key for r in results]), until, "review")
        [row] = [o.row for o in outcomes if o.row.profile == "review"]
    else:
        [row] = [r for r in write_sequence_clips(results, out, settings, keep_working=True) if r.profile == "review"]
    assert row.ok and (row.shot, row.version) == (shot, version), row
    return row


def movie_codes(path: str | Path) -> list[int]:
    """Every picture's code, decoded by libavcodec (PyAV), Y' plane only."""
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(read_code(frame.to_ndarray(format="yuv420p")[:frame.height]))
    return out


def ffprobe_frames(path: str | Path) -> int:
    """The picture count as Debian's ffprobe counts it (decoding every frame), independent of PyAV."""
    text = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                           "stream=nb_read_frames", "-of", "csv=p=0", str(path)], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    return int(text.strip())
