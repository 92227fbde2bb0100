"""Peak RSS of one frame's render at 4K, 8K and 16K, against the memory budget (PROXYGEN_MAX_FRAME_MEMORY).

Each frame is a half RGBA EXR written here in stripes (a smooth ramp: 16K is ~4 MB on disk, as a studio's
mostly-constant matte or a test chart would be) and rendered through the real chain (``render_file``, what
``proxygen render`` runs) in a fresh child process per render, its peak RSS read from ``ru_maxrss`` of a small
wrapper's children (the wrapper is ~10 MB, so the figure is the render's own). Two runs per frame: the baseline,
whole-image path (budget 10^6 MiB: nothing is streamed) and the budgeted run (the default 2048 MiB unless
``--budget``), which streams the frames that would not fit. Printed per frame: the header-only estimate (at the
RSS the child had when it was admitted), the measured peak, the wall time and the ratios budgeted / baseline.
Then the time to refuse a frame that cannot be striped (a deep 16K EXR over the budget) as ``too_large``.
Usage: python benchmarks/bench_memory.py [--sizes 4096x2160,8192x4320,16384x16384] [--budget 2048] [--reps 1]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
from machine import describe  # benchmarks/machine.py (the script's own folder is on sys.path)

BASELINE_BUDGET = 10**6  # MiB: every frame fits, so every frame takes the whole-image path
_WRAPPER = ("import json, resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(json.dumps({'rc': r.returncode, 'out': r.stdout, 'err': r.stderr[-2000:], "
            "'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def write_large_exr(path: Path, width: int, height: int, channels: int = 4, border: int = 0) -> None:
    """A half EXR of any size written a band of rows at a time (never the whole image in memory): a ramp in
    red and green, constant blue, opaque alpha. ``border``: the data window is that many pixels inside the
    display window on every side (overscan's opposite: a layout only the whole-image ImageBuf path frames)."""
    dw, dh = width - 2 * border, height - 2 * border
    spec = oiio.ImageSpec(dw, dh, channels, "half")
    spec.x = spec.y = border
    spec.full_x = spec.full_y = 0
    spec.full_width, spec.full_height = width, height
    spec.attribute("compression", "zip")
    out = oiio.ImageOutput.create(str(path))
    if out is None or not out.open(str(path), spec):
        raise OSError(f"cannot write {path}: {oiio.geterror()}")
    try:
        ramp = np.linspace(0.0, 2.0, dw, dtype=np.float32)
        for y in range(0, dh, 256):
            y1 = min(dh, y + 256)
            band = np.ones((y1 - y, dw, channels), np.float32)
            band[..., 0] = ramp[None]
            band[..., 1] = (np.arange(y, y1, dtype=np.float32) / dh)[:, None]
            band[..., 2] = 0.25
            if not out.write_scanlines(border + y, border + y1, 0, band):
                raise OSError(f"cannot write {path}: {out.geterror()}")
    finally:
        out.close()


def child(frame: str, out_dir: str, budget: int) -> None:
    """In the measured process: the estimate at admission, then the chain, as ``proxygen render`` runs it."""
    from dataclasses import replace

    from proxygen_core.colour.engine import engine
    from proxygen_core.errors import SourceTooLargeError
    from proxygen_core.media.memory import admit, estimate_frame_memory, process_rss_bytes
    from proxygen_core.media.render import _stripe_lines, alpha_channel, review_layer
    from proxygen_core.pipeline.folder import render_file
    from proxygen_core.probe import probe
    from proxygen_core.settings import Settings

    settings = Settings()
    settings = replace(settings, render=replace(settings.render, max_frame_memory=budget))
    record = probe(frame)
    chans, layer = review_layer(record.channels, settings.render.review_layer_order())
    n = len(chans) + (1 if settings.render.working_alpha and alpha_channel(record.channels, layer) is not None else 0)
    eng = engine(settings.render.ocio_config)
    _, linear = eng.to_working(eng.detect(record, settings.render), settings.render.working_colorspace)
    inp = oiio.ImageInput.open(frame)
    lines = _stripe_lines(inp.spec())  # as decode_working passes it: the open file's stripe
    inp.close()
    rss = process_rss_bytes()
    whole = estimate_frame_memory(record, settings.render, n, linear, stripe_lines=lines)
    try:
        admission = admit(record, settings.render, n, linear, stripe_lines=lines)  # decode_working's decision
        decided, window = admission.streamed, admission.window_rows
    except SourceTooLargeError:
        decided, window = False, 0
    streamed = estimate_frame_memory(record, settings.render, n, linear, True, window, lines)
    t0 = time.perf_counter()
    result = render_file(frame, out_dir, settings)
    seconds = time.perf_counter() - t0
    report = result.report()
    print(json.dumps({"rss": rss, "whole": whole.total, "streamed_estimate": streamed.total, "seconds": seconds,
                      "status": report.get("status"), "error": report.get("error"),
                      "streamed": decided}))


def measured(frame: Path, out_dir: Path, budget: int) -> dict:
    """One render in a fresh process: its report line plus its peak RSS (KiB)."""
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, __file__, "--child", str(frame), str(out_dir), str(budget)]
    wrapped = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    if wrapped["rc"] != 0:
        raise RuntimeError(f"render of {frame} failed: {wrapped['err']}")
    figures = json.loads(wrapped["out"].strip().splitlines()[-1])
    figures["peak_mib"] = wrapped["peak_kib"] / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="4096x2160,8192x4320,16384x16384")
    parser.add_argument("--budget", type=int, default=2048, help="MiB (default: the documented render slot)")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("FRAME", "OUT", "BUDGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    print(describe())
    print(f"budget {args.budget} MiB (the run worker's whole RSS); baseline = the whole-image path")
    mib = 2**20
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"{'frame':>12} {'path':>8} {'RSS@admit':>9} {'estimate':>9} {'peak':>7} {'s':>6} {'est/peak':>8}")
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            frame = tmp / f"ramp_{w}x{h}.exr"
            write_large_exr(frame, w, h)
            rows = {}
            for label, budget in (("whole", BASELINE_BUDGET), ("budgeted", args.budget)):
                runs = [measured(frame, tmp / f"out_{label}", budget) for _ in range(args.reps)]
                best = min(runs, key=lambda r: r["seconds"])
                best["peak_mib"] = max(r["peak_mib"] for r in runs)
                rows[label] = best
                path = "streamed" if best["streamed"] else "whole"
                estimate = best["rss"] + (best["streamed_estimate"] if best["streamed"] else best["whole"])
                print(f"{size:>12} {path:>8} {best['rss'] / mib:9.0f} {estimate / mib:9.0f} {best['peak_mib']:7.0f} "
                      f"{best['seconds']:6.2f} {estimate / mib / best['peak_mib']:8.2f}  ({label}, {best['status']})")
            base, ours = rows["whole"], rows["budgeted"]
            print(f"{size:>12} budgeted/whole: peak {ours['peak_mib'] / base['peak_mib']:.2f}x, "
                  f"time {ours['seconds'] / base['seconds']:.2f}x; within {args.budget} MiB: "
                  f"{'yes' if ours['peak_mib'] <= args.budget else 'NO'}")
        refused = tmp / "inset_16k.exr"  # data window inside the display window: framed whole, cannot be striped
        write_large_exr(refused, 16384, 16384, border=8)
        figures = measured(refused, tmp / "out_refused", args.budget)
        print(f"16384x16384 with an inset data window: {figures['status']} in {figures['seconds']:.3f} s (the whole "
              f"chain: copy, probe, admission), peak {figures['peak_mib']:.0f} MiB; {figures['error']}")


if __name__ == "__main__":
    main()
