"""proxygen_core vs the seed-style baseline on a 4K and a 2K EXR, in one run on this machine.

Baseline (the original function's shape): ONE ``oiiotool`` call that decodes once, converts colour once
and, with ``--dup``, fits to a JPEG thumbnail and a PNG; then ``ffmpeg`` libx264 ``-preset fast -crf 18``
to MP4. Prints the baseline's commands, per-frame wall times in-process for both display paths (baked
LUT, the default, and the exact transform), the pure decode time (the floor), whole-process figures
(``proxygen render`` of one frame vs the baseline's processes: start-up counts) and peak RSS, including
an 8K half RGBA frame.
With Debian's ``openimageio-tools`` and ``ffmpeg`` installed (``PROXYGEN_BENCH_TOOLS=1 bash scripts/bootstrap.sh``)
that build of the baseline runs too (its OCIO 2.1 gets the pinned config's two colour spaces as a file)
and the ratios are against the faster of the two.
Usage: python benchmarks/bench_render.py [--reps 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
from machine import describe  # benchmarks/machine.py (the script's own folder is on sys.path)
from timing import timed

from proxygen_core.media.samples import CHROMATICITIES, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import RenderSettings, Settings


def make_frame(path: Path, width: int, height: int) -> None:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(1)
    img = np.stack([xx / width * 2.0, yy / height, (np.sin(xx / 37) * np.cos(yy / 23) + 1) * 0.5], -1)
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)  # grain, so compression has real work
    write_exr(path, img.astype(np.float32), CHROMATICITIES["ACEScg"], alpha=True, pixel_type="half")


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


@dataclass(frozen=True)
class BaselineTools:
    """One build of the seed's tools: the OpenImageIO wheel's oiiotool with imageio-ffmpeg's ffmpeg, or
    Debian's (openimageio-tools, ffmpeg), which ran faster in issue 20's measurements."""

    name: str
    oiiotool: str
    ffmpeg: str
    ocio_config: str


def subset_config(settings: RenderSettings, path: Path) -> str:
    """The two colour spaces the baseline converts between, with the pinned config's own transforms, as
    an OCIO 2.1 file: Debian's OpenColorIO 2.1 has no built-in configs and cannot read a 2.5 one."""
    import PyOpenColorIO as ocio

    pinned = ocio.Config.CreateFromFile(settings.ocio_config)
    config = ocio.Config.CreateRaw()
    config.setMajorVersion(2)
    config.setMinorVersion(1)
    for name in ("ACES2065-1", "ACEScg", "sRGB Encoded Rec.709 (sRGB)"):
        space = ocio.ColorSpace(ocio.REFERENCE_SPACE_SCENE, name=name)
        for direction in (ocio.COLORSPACE_DIR_TO_REFERENCE, ocio.COLORSPACE_DIR_FROM_REFERENCE):
            transform = pinned.getColorSpace(name).getTransform(direction)
            if transform is not None:
                space.setTransform(transform, direction)
        config.addColorSpace(space)
    for role, name in (("reference", "ACES2065-1"), ("scene_linear", "ACEScg"), ("default", "ACEScg")):
        config.setRole(role, name)
    path.write_text(config.serialize())
    return str(path)


def baseline_tools(settings: RenderSettings, tmp: Path) -> list[BaselineTools]:
    import imageio_ffmpeg

    tools = [BaselineTools("wheel", str(Path(sys.executable).with_name("oiiotool")),
                           imageio_ffmpeg.get_ffmpeg_exe(), settings.ocio_config)]
    if Path("/usr/bin/oiiotool").exists() and Path("/usr/bin/ffmpeg").exists():
        tools.append(BaselineTools("debian", "/usr/bin/oiiotool", "/usr/bin/ffmpeg",
                                   subset_config(settings, tmp / "baseline.ocio")))
    return tools


def baseline_commands(path: Path, out: Path, tools: BaselineTools) -> list[list[str]]:
    return [
        [tools.oiiotool, str(path), "--colorconfig", tools.ocio_config, "--ch", "R,G,B",
         "--colorconvert", "ACEScg", "sRGB Encoded Rec.709 (sRGB)", "--dup",
         "--fit", "256x256", "-d", "uint8", "-o", str(out / "thumb.jpg"), "--pop",
         "--fit", "1920x1080", "-d", "uint8", "-o", str(out / "proxy.png")],
        [tools.ffmpeg, "-y", "-loglevel", "error", "-i", str(out / "proxy.png"),
         "-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p",
         "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-movflags", "+faststart", str(out / "proxy.mp4")],
    ]


def tool_version(exe: str) -> str:
    """The baseline tool's own first version line (baselines differ between machines: say which ran)."""
    flag = "--version" if Path(exe).name == "oiiotool" else "-version"
    out = subprocess.run([exe, flag], capture_output=True, text=True, timeout=30)
    first = (out.stdout or out.stderr).strip().splitlines()
    return f"{exe} = {first[0] if first else 'version unknown'}"


def baseline(path: Path, out: Path, tools: BaselineTools) -> None:
    peaks = [run_measured(cmd) for cmd in baseline_commands(path, out, tools)]
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
        print("machine:", describe())
        builds = baseline_tools(lut, tmp)
        for tools in builds:
            commands = baseline_commands(Path("SRC.exr"), Path("OUT"), tools)
            print(f"baseline {tools.name}:", " && ".join(" ".join(c) for c in commands))
            print(f"baseline {tools.name} tools:", "; ".join(tool_version(c[0]) for c in commands))
        print("ratios are against the faster baseline of the frame (the stricter one)")
        print(f"{'frame':<10} {'lut s':>7} {'exact s':>8} {'base s':>7} {'lut x':>6} {'exact x':>8} {'decode s':>9} "
              f"{'lut/dec':>8} {'proc s':>7} {'base proc':>9} {'proc x':>7} {'RSS MiB':>8} {'base RSS':>8}")
        for label, (w, h) in (("4096x2160", (4096, 2160)), ("2048x1556", (2048, 1556))):
            src = tmp / f"bench_{label}.exr"
            make_frame(src, w, h)
            for s in (lut, exact):
                render_file(src, tmp / "warm", Settings(render=s))  # warm caches: OCIO processors, the baked LUT, codecs
            # Interleaved rounds, each timing every item once: the ratios are taken within a round and their
            # median quoted, so a drift in the machine's speed (shared VMs drift) moves both sides alike.
            items = {"lut": lambda: render_file(src, tmp / "ours", Settings(render=lut)),
                     "exact": lambda: render_file(src, tmp / "ours", Settings(render=exact)),
                     **{f"base {t.name}": (lambda t=t: baseline(src, tmp, t)) for t in builds},
                     "decode": lambda: decode_only(src),
                     "proc": lambda: proxygen_process(src, tmp / "proc")}
            rounds = [{name: timed(fn, 1) for name, fn in items.items()} for _ in range(args.reps)]
            for r in rounds:
                r["base"] = min(r[f"base {t.name}"] for t in builds)
            med = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
            ratio = {f"{a}/{b}": statistics.median(r[a] / r[b] for r in rounds)
                     for a, b in (("base", "lut"), ("base", "exact"), ("lut", "decode"), ("base", "proc"))}
            print("  baselines: " + ", ".join(f"{t.name} {med['base ' + t.name]:.3f} s" for t in builds), flush=True)
            rss = proxygen_peak(src, tmp / "rss") / 1024
            print(f"{label:<10} {med['lut']:>7.3f} {med['exact']:>8.3f} {med['base']:>7.3f} {ratio['base/lut']:>5.1f}x "
                  f"{ratio['base/exact']:>7.1f}x {med['decode']:>9.3f} {ratio['lut/decode']:>7.1f}x {med['proc']:>7.3f} "
                  f"{med['base']:>9.3f} {ratio['base/proc']:>6.1f}x {rss:>8.0f} {PEAKS[str(src)] / 1024:>8.0f}",
                  flush=True)
        src = tmp / "bench_8k.exr"
        make_frame(src, 7680, 4320)
        print(f"8K 7680x4320 half RGBA: proxygen peak RSS {proxygen_peak(src, tmp / 'rss8k') / 1024:.0f} MiB "
              f"(limit 1024)", flush=True)
    print("times: medians over the rounds; x and lut/dec: medians of the per-round ratios. x = baseline / proxygen "
          "(in-process for lut/exact, whole processes for proc); lut/dec = proxygen / bare decode; RSS: peak of a fresh process rendering one frame (proxygen) / of the largest baseline tool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
