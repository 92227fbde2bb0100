"""proxygen_core vs the seed-style baseline on a 4K and a 2K EXR, in one run on this machine.

Baseline (the original function's shape): ONE ``oiiotool`` call that decodes once, converts colour once
and, with ``--dup``, fits to a JPEG thumbnail and a PNG; then ``ffmpeg`` libx264 ``-preset fast -crf 18``
to MP4. Prints the baseline's commands, per-frame wall times in-process for both display paths (baked
LUT, the default, and the exact transform), the pure decode time (the floor), whole-process figures
(``proxygen render`` of one frame vs the baseline's processes: start-up counts) and peak RSS, including
an 8K half RGBA frame.
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

from proxygen_core.media.samples import CHROMATICITIES, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import RenderSettings, Settings


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


def baseline_commands(path: Path, out: Path, settings: RenderSettings) -> list[list[str]]:
    import imageio_ffmpeg

    oiiotool = str(Path(sys.executable).with_name("oiiotool"))
    return [
        [oiiotool, str(path), "--colorconfig", settings.ocio_config, "--ch", "R,G,B",
         "--colorconvert", "ACEScg", "sRGB Encoded Rec.709 (sRGB)", "--dup",
         "--fit", "256x256", "-d", "uint8", "-o", str(out / "thumb.jpg"), "--pop",
         "--fit", "1920x1080", "-d", "uint8", "-o", str(out / "proxy.png")],
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(out / "proxy.png"),
         "-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p",
         "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-movflags", "+faststart", str(out / "proxy.mp4")],
    ]


def tool_version(exe: str) -> str:
    """The baseline tool's own first version line (baselines differ between machines: say which ran)."""
    flag = "--version" if Path(exe).name == "oiiotool" else "-version"
    out = subprocess.run([exe, flag], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).strip().splitlines()
    return f"{exe} = {first[0] if first else 'version unknown'}"


def baseline(path: Path, out: Path, settings: RenderSettings) -> None:
    peaks = [run_measured(cmd) for cmd in baseline_commands(path, out, settings)]
    PEAKS[str(path)] = max(PEAKS.get(str(path), 0), *peaks)


def proxygen_peak(path: Path, out: Path) -> int:
    code = ("import sys; from proxygen_core.pipeline.folder import render_file; from proxygen_core.settings import "
            "Settings; r = render_file(sys.argv[1], sys.argv[2], Settings()); sys.exit(0 if r.ok else 1)")
    return run_measured([sys.executable, "-c", code, str(path), str(out)])


def proxygen_process(path: Path, out: Path) -> None:
    """``proxygen render`` as a user runs it: a new process (imports, config, processors paid each time)."""
    run_measured([str(Path(sys.executable).with_name("proxygen")), "render", str(path), "--out", str(out), "-q"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    lut, exact = RenderSettings(), RenderSettings(display_transform="exact")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        commands = baseline_commands(Path("SRC.exr"), Path("OUT"), lut)
        print("baseline:", " && ".join(" ".join(c) for c in commands))
        print("baseline tools:", "; ".join(tool_version(c[0]) for c in commands))
        print(f"{'frame':<10} {'lut s':>7} {'exact s':>8} {'base s':>7} {'lut x':>6} {'exact x':>8} {'decode s':>9} "
              f"{'lut/dec':>8} {'proc s':>7} {'base proc':>9} {'proc x':>7} {'RSS MiB':>8} {'base RSS':>8}")
        for label, (w, h) in (("4096x2160", (4096, 2160)), ("2048x1556", (2048, 1556))):
            src = tmp / f"bench_{label}.exr"
            make_frame(src, w, h)
            for s in (lut, exact):
                render_file(src, tmp / "warm", Settings(render=s))  # warm caches: OCIO processors, the baked LUT, codecs
            fast = timed(lambda: render_file(src, tmp / "ours", Settings(render=lut)), args.reps)
            slow = timed(lambda: render_file(src, tmp / "ours", Settings(render=exact)), args.reps)
            base = timed(lambda: baseline(src, tmp, lut), args.reps)
            dec = timed(lambda: decode_only(src), args.reps)
            proc = timed(lambda: proxygen_process(src, tmp / "proc"), args.reps)
            rss = proxygen_peak(src, tmp / "rss") / 1024
            print(f"{label:<10} {fast:>7.3f} {slow:>8.3f} {base:>7.3f} {base / fast:>5.1f}x {base / slow:>7.1f}x "
                  f"{dec:>9.3f} {fast / dec:>7.1f}x {proc:>7.3f} {base:>9.3f} {base / proc:>6.1f}x {rss:>8.0f} "
                  f"{PEAKS[str(src)] / 1024:>8.0f}", flush=True)
        src = tmp / "bench_8k.exr"
        make_frame(src, 7680, 4320)
        print(f"8K 7680x4320 half RGBA: proxygen peak RSS {proxygen_peak(src, tmp / 'rss8k') / 1024:.0f} MiB "
              f"(limit 1024)", flush=True)
    print("x = baseline / proxygen (in-process for lut/exact, whole processes for proc); lut/dec = proxygen / bare "
          "decode; RSS: peak of a fresh process rendering one frame (proxygen) / of the largest baseline tool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
