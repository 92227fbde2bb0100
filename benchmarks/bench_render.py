"""proxygen_core vs the seed-style baseline on a 4K and a 2K EXR, in one run on this machine.

Baseline (what the original function did): ``oiiotool --colorconvert`` + ``--fit`` to a JPEG
thumbnail, ``oiiotool --colorconvert`` + ``--fit`` to a PNG, then ``ffmpeg`` libx264 to MP4.
Prints per-frame wall times, the ratio, the pure decode time (the floor) and peak RSS.
Usage: python benchmarks/bench_render.py [--reps 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from proxygen_core.process import process_file
from proxygen_core.samples import CHROMATICITIES, write_exr
from proxygen_core.settings import RenderSettings


def make_frame(path: Path, width: int, height: int) -> None:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(1)
    img = np.stack([xx / width * 2.0, yy / height, (np.sin(xx / 37) * np.cos(yy / 23) + 1) * 0.5], -1)
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)  # grain, so compression has real work
    write_exr(path, img.astype(np.float32), CHROMATICITIES["ACEScg"], alpha=True, pixel_type="half")


def timed(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def decode_only(path: Path) -> None:
    inp = oiio.ImageInput.open(str(path))
    inp.read_image(0, 0, 0, 4, oiio.HALF)
    inp.close()


def run_measured(args: list[str]) -> int:
    """Run a command; return its peak RSS in KiB.

    Read from /proc/<pid>/status VmHWM while it runs: rusage's ru_maxrss would report this (large)
    parent's memory, because Linux carries the pre-exec high-water mark into the child.
    """
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.005)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {proc.stderr.read().decode(errors='replace')[-500:]}")
    return peak


PEAKS: dict[str, int] = {}


def baseline(path: Path, out: Path, settings: RenderSettings) -> None:
    import imageio_ffmpeg

    cfg = settings.ocio_config
    oiiotool = str(Path(sys.executable).with_name("oiiotool"))
    common = [oiiotool, str(path), "--colorconfig", cfg, "--ch", "R,G,B"]
    peaks = [
        run_measured(common + ["--colorconvert", "ACEScg", "sRGB Encoded Rec.709 (sRGB)", "--fit", "256x256",
                               "-d", "uint8", "-o", str(out / "thumb.jpg")]),
        run_measured(common + ["--colorconvert", "ACEScg", "Gamma 2.4 Encoded Rec.709", "--fit", "1920x1080",
                               "-d", "uint8", "-o", str(out / "proxy.png")]),
        run_measured([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(out / "proxy.png"),
                      "-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv420p",
                      "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-movflags", "+faststart", str(out / "proxy.mp4")]),
    ]
    PEAKS[str(path)] = max(PEAKS.get(str(path), 0), *peaks)


def proxygen_peak(path: Path, out: Path) -> int:
    code = ("import sys; from proxygen_core.process import process_file; from proxygen_core.settings import "
            "RenderSettings; r = process_file(sys.argv[1], sys.argv[2], RenderSettings()); "
            "sys.exit(0 if r.status == 'ok' else 1)")
    return run_measured([sys.executable, "-c", code, str(path), str(out)])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    settings = RenderSettings()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"{'frame':<10} {'proxygen s':>10} {'baseline s':>10} {'speedup':>8} {'decode s':>9} {'x decode':>9} "
              f"{'RSS MiB':>8} {'base RSS':>8}")
        for label, (w, h) in (("4096x2160", (4096, 2160)), ("2048x1556", (2048, 1556))):
            src = tmp / f"bench_{label}.exr"
            make_frame(src, w, h)
            process_file(src, tmp / "warm", settings)  # warm caches: OCIO processors, codecs
            ours = timed(lambda: process_file(src, tmp / "ours", settings), args.reps)
            base = timed(lambda: baseline(src, tmp, settings), args.reps)
            dec = timed(lambda: decode_only(src), args.reps)
            ours_rss = proxygen_peak(src, tmp / "rss") / 1024
            print(f"{label:<10} {ours:>10.3f} {base:>10.3f} {base / ours:>7.1f}x {dec:>9.3f} {ours / dec:>8.1f}x "
                  f"{ours_rss:>8.0f} {PEAKS[str(src)] / 1024:>8.0f}", flush=True)
    print("RSS: peak of a fresh process rendering one frame (proxygen) / of the largest baseline tool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
