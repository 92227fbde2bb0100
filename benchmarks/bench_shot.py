"""A whole shot: ``proxygen render`` of an N-frame 2048x1080 ACEScg sequence against the peers' way, in one run.

The peers' way (AYON's ExtractReview and most studio review scripts): ``oiiotool`` turns each EXR into a
16-bit PNG at review size (``--ch R,G,B --colorconvert ACEScg "sRGB Encoded Rec.709 (sRGB)" --fit:filter=box
1920x1080 -d uint16``, one process per frame, 2 threads), then ``ffmpeg`` encodes each movie from the PNGs:
libx264 ``-preset fast -crf 18 -pix_fmt yuv420p`` and prores_ks ``-profile:v 3 -vendor apl0 -pix_fmt
yuv422p10le``. Ours: ``proxygen render`` as a new process with ``PROXYGEN_CLIP_PROFILES=review,prores_422hq``,
which also writes every frame's thumbnail and proxy and checks both movies' quality.

Runs alternate (ours, baseline, ours, ...) so a drift of the machine moves both sides; the ratio is taken
within each pair and the median quoted. The baseline uses Debian's oiiotool and ffmpeg when installed
(``PROXYGEN_BENCH_TOOLS=1 bash scripts/bootstrap.sh``), else the OpenImageIO wheel's oiiotool with
imageio-ffmpeg's ffmpeg. Content: the real photograph of bench_clip.py (panning), else a synthetic chart.
Usage: python benchmarks/bench_shot.py [--frames 48] [--reps 3] [--profiles review,prores_422hq]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_clip import PHOTO, photo_sequence  # benchmarks/ (the script's own folder is on sys.path)
from bench_render import BaselineTools, baseline_tools, tool_version
from machine import describe

from proxygen_core.media.samples import write_sequence
from proxygen_core.settings import RenderSettings


def baseline_frame(src: Path, png: Path, tools: BaselineTools) -> list[str]:
    return [tools.oiiotool, "--threads", "2", str(src), "--colorconfig", tools.ocio_config, "--ch", "R,G,B",
            "--colorconvert", "ACEScg", "sRGB Encoded Rec.709 (sRGB)", "--fit:filter=box", "1920x1080",
            "-d", "uint16", "-o", str(png)]


def baseline_movies(pattern: Path, out: Path, tools: BaselineTools, start: int) -> list[list[str]]:
    common = [tools.ffmpeg, "-y", "-loglevel", "error", "-framerate", "24", "-start_number", str(start),
              "-i", str(pattern)]
    return [common + ["-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p",
                      "-movflags", "+faststart", str(out / "review.mp4")],
            common + ["-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0", "-pix_fmt", "yuv422p10le",
                      str(out / "review.mov")]]


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-800:]}")


def peers(sources: list[Path], out: Path, tools: BaselineTools) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t = time.perf_counter()
    for index, src in enumerate(sources):
        run(baseline_frame(src, out / f"review.{index:04d}.png", tools))
    for cmd in baseline_movies(out / "review.%04d.png", out, tools, 0):
        run(cmd)
    return time.perf_counter() - t


def ours(sources: list[Path], out: Path, profiles: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PROXYGEN_CLIP_PROFILES": profiles}
    t = time.perf_counter()
    run([str(Path(sys.executable).with_name("proxygen")), "render", "--out", str(out), "-q",
         *map(str, sources)], env)
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profiles", default="review,prores_422hq")
    args = parser.parse_args()
    print("machine:", describe())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "in"
        sources = (photo_sequence(src, args.frames) if PHOTO.exists()
                   else write_sequence(src, args.frames, 2048, 1080))
        print(f"content: {'tahoe-gps.jpg (real photograph, panning)' if PHOTO.exists() else 'synthetic chart'}; "
              f"{len(sources)} frames 2048x1080 ACEScg; ours: proxygen render, PROXYGEN_CLIP_PROFILES={args.profiles}")
        tools = baseline_tools(RenderSettings(), tmp)[-1]  # Debian's when installed (the faster build)
        print(f"baseline {tools.name}: per frame:", " ".join(baseline_frame(Path("SRC.exr"), Path("F.png"), tools)))
        for cmd in baseline_movies(Path("review.%04d.png"), Path("OUT"), tools, 0):
            print(f"baseline {tools.name}: then:", " ".join(cmd))
        print(f"baseline {tools.name} tools:", "; ".join(tool_version(e) for e in (tools.oiiotool, tools.ffmpeg)))
        ours(sources[:2], tmp / "warm", args.profiles)  # page cache and first-run costs on neither side
        pairs = []
        for rep in range(args.reps):
            a = ours(sources, tmp / "ours", args.profiles)
            b = peers(sources, tmp / "peers", tools)
            pairs.append((a, b))
            print(f"round {rep + 1}: proxygen render {a:.1f} s, peers {b:.1f} s: {b / a:.2f}x", flush=True)
        made = sorted(p.name for p in (tmp / "ours").rglob("*") if p.suffix in (".mp4", ".mov") and "clip" in p.name
                      or p.suffix == ".mov")
        print("ours made:", ", ".join(made) or "no movies (check the profiles)")
        a_med = statistics.median(a for a, _ in pairs)
        b_med = statistics.median(b for _, b in pairs)
        ratio = statistics.median(b / a for a, b in pairs)
        n = len(sources)
        print(f"shot of {n} frames: proxygen render {a_med:.1f} s ({a_med / n:.3f} s/frame), peers {b_med:.1f} s "
              f"({b_med / n:.3f} s/frame): **{ratio:.2f}x** (median of {args.reps} paired rounds; target >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
