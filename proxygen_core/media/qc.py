"""Quality checks on produced media. Shared by the Dagster asset checks and the tests."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from proxygen_core.media.geometry import fit_within
from proxygen_core.profiles import AV_MATRIX, AV_PRIMARIES, AV_TRANSFER, ClipProfile


@dataclass
class QCResult:
    passed: bool
    problems: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def top_level_atoms(path: str | Path) -> list[str]:
    """MP4 top-level box names in file order (moov before mdat means faststart)."""
    atoms: list[str] = []
    with open(path, "rb") as fh:
        while len(atoms) < 64:
            header = fh.read(8)
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            atoms.append(kind.decode("latin-1"))
            if size == 1:
                size = struct.unpack(">Q", fh.read(8))[0]
                fh.seek(size - 16, 1)
            elif size < 8:
                break
            else:
                fh.seek(size - 8, 1)
    return atoms


def mp4_info(path: str | Path, count_frames: bool = False) -> dict[str, Any]:
    """Stream parameters from the container; ``count_frames`` counts the stream's packets (one per picture: no
    encoder here writes B-frames or field pairs), which costs a demux, not a decode."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        info: dict[str, Any] = {
            "codec": cc.name, "pix_fmt": cc.pix_fmt, "width": cc.width, "height": cc.height,
            "color_primaries": int(cc.color_primaries), "color_trc": int(cc.color_trc),
            "colorspace": int(cc.colorspace), "color_range": int(cc.color_range), "frames": None}
        if count_frames:
            info["frames"] = sum(1 for packet in container.demux(stream) if packet.size)
    info["atoms"] = top_level_atoms(path)
    return info


def check_thumbnail(width: int, height: int, source_width: int, source_height: int, box: int) -> QCResult:
    expected = fit_within(source_width, source_height, box, box)
    problems = []
    if width > box or height > box:
        problems.append(f"thumbnail {width}x{height} exceeds {box}x{box}")
    if abs(width - expected[0]) > 1 or abs(height - expected[1]) > 1:
        problems.append(
            f"thumbnail {width}x{height} does not keep the source aspect (expected {expected[0]}x{expected[1]})"
        )
    return QCResult(
        not problems, problems, {"thumbnail": f"{width}x{height}", "expected": f"{expected[0]}x{expected[1]}"}
    )


def check_proxy(
    info: dict[str, Any], source_width: int, source_height: int, max_width: int, max_height: int
) -> QCResult:
    problems = []
    if info["codec"] != "h264":
        problems.append(f"codec {info['codec']} is not h264")
    if info["pix_fmt"] != "yuv420p":
        problems.append(f"pixel format {info['pix_fmt']} is not yuv420p")
    if (info["color_primaries"], info["color_trc"], info["colorspace"]) != (1, 1, 1):
        problems.append("colour tags are not BT.709 primaries/transfer/matrix")
    if info["color_range"] != 1:
        problems.append("range is not tv (limited)")
    atoms = info["atoms"]
    if "moov" not in atoms or "mdat" not in atoms or atoms.index("moov") > atoms.index("mdat"):
        problems.append(f"not faststart (atoms {atoms})")
    w, h = info["width"], info["height"]
    if w % 2 or h % 2:
        problems.append(f"odd dimensions {w}x{h}")
    if w > max_width or h > max_height:
        problems.append(f"{w}x{h} exceeds {max_width}x{max_height}")
    if w > max(source_width, 2) or h > max(source_height, 2):
        problems.append(f"{w}x{h} upscales the {source_width}x{source_height} source")
    return QCResult(not problems, problems, {k: info[k] for k in ("codec", "pix_fmt", "width", "height")})


def check_clip(info: dict[str, Any], profile: ClipProfile, width: int, height: int, frame_count: int,
               alpha: bool = False) -> QCResult:
    """A deliverable as its profile specifies it: codec, pixel format, colour tags, size, every frame present."""
    problems = []
    if info["codec"] != profile.stream_codec:
        problems.append(f"codec {info['codec']} is not {profile.stream_codec}")
    expected_fmt = profile.reported_pix_fmt(alpha)
    if info["pix_fmt"] != expected_fmt:
        problems.append(f"pixel format {info['pix_fmt']} is not {expected_fmt}")
    tags = (AV_PRIMARIES[profile.primaries], AV_TRANSFER[profile.transfer], AV_MATRIX[profile.matrix])
    if (info["color_primaries"], info["color_trc"], info["colorspace"]) != tags:
        problems.append(f"colour tags are not {profile.primaries}/{profile.transfer}/{profile.matrix}")
    if info["color_range"] != 1:
        problems.append("range is not tv (limited)")
    if (info["width"], info["height"]) != (width, height):
        problems.append(f"{info['width']}x{info['height']} is not {width}x{height}")
    if info["frames"] is not None and info["frames"] != frame_count:
        problems.append(f"{info['frames']} pictures decoded, {frame_count} expected")
    atoms = info["atoms"]
    if "moov" not in atoms or "mdat" not in atoms or atoms.index("moov") > atoms.index("mdat"):  # MP4 and MOV
        problems.append(f"not faststart (atoms {atoms})")
    return QCResult(not problems, problems, {k: info[k] for k in ("codec", "pix_fmt", "width", "height", "frames")})


def check_exposure(display_rgb_uint8: np.ndarray, limit: float = 0.98) -> QCResult:
    """Flags all-black or clipped-white frames; always reports the fractions."""
    luma = display_rgb_uint8.astype(np.float32).mean(axis=-1)
    black = float((luma <= 2).mean())
    white = float((luma >= 253).mean())
    problems = []
    if black >= limit:
        problems.append(f"{black:.1%} of the frame is black")
    if white >= limit:
        problems.append(f"{white:.1%} of the frame is clipped white")
    return QCResult(not problems, problems, {"black_fraction": round(black, 4), "white_fraction": round(white, 4)})


def check_finite(pixels: np.ndarray) -> QCResult:
    bad = 0 if np.isfinite(pixels).all() else int((~np.isfinite(pixels)).any(axis=-1).sum())
    return QCResult(bad == 0, [f"{bad} non-finite pixels"] if bad else [], {"nonfinite_pixels": bad})
