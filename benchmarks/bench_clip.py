"""What a sequence's deliverables cost beyond its frames, in one run on this machine.

Makes an N-frame 2048x1080 sequence from a real photograph (``tahoe-gps.jpg`` from ../shared/testdata,
converted to scene-linear ACEScg half-float EXRs, panning 2 px per frame; a synthetic chart sequence when
the test data is absent), renders it frame by frame through the chain (``render_file``: decode, colour,
working frame, thumbnail, proxy), then:
- builds the ``review`` clip (alone, so from the proxy planes each frame's chain kept) and prints its time as
  a fraction of the frames' time (target: at most 15%), its quality check included;
- builds each profile alone on the first ``--profile-frames`` frames (from the kept working frames) and
  prints its seconds per frame, then every profile in one pass.
Usage: python benchmarks/bench_clip.py [--frames 240] [--profile-frames 48]
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from proxygen_core.media.samples import CHROMATICITIES, write_exr, write_sequence
from proxygen_core.pipeline.folder import render_file
from proxygen_core.pipeline.sequence import build_clips_of, load_members
from proxygen_core.profiles import PROFILES
from proxygen_core.settings import PipelineSettings, Settings
from proxygen_core.store.local import LocalStore

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "OpenImageIO-images" / "tahoe-gps.jpg"


def photo_sequence(folder: Path, frames: int) -> list[Path]:
    """Scene-linear ACEScg frames cut from the photograph (sRGB -> linear Rec.709 -> ACEScg, exposure x1.5)."""
    import PyOpenColorIO as ocio

    from proxygen_core.settings import DEFAULT_OCIO_CONFIG

    rgb = oiio.ImageBuf(str(PHOTO)).get_pixels(oiio.FLOAT)[..., :3]
    cfg = ocio.Config.CreateFromFile(DEFAULT_OCIO_CONFIG)
    cpu = cfg.getProcessor("sRGB Encoded Rec.709 (sRGB)", "ACEScg").getDefaultCPUProcessor()
    lin = np.ascontiguousarray(rgb, dtype=np.float32)
    cpu.applyRGB(lin)
    lin *= 1.5
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(frames):
        y = (2 * index) % (lin.shape[0] - 1080)
        path = folder / f"tahoe.{1001 + index:04d}.exr"
        write_exr(path, lin[y:y + 1080, :2048], CHROMATICITIES["ACEScg"])
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--profile-frames", type=int, default=48)
    args = parser.parse_args()
    print(f"# bench_clip {date.today()} {platform.machine()} {os.cpu_count()} cores; "
          f"content: {'tahoe-gps.jpg (real photograph)' if PHOTO.exists() else 'synthetic chart (no test data)'}")
    keep = Settings(pipeline=PipelineSettings(working_retention="keep", clip_profiles="review"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        sources = photo_sequence(src, args.frames) if PHOTO.exists() else write_sequence(src, args.frames, 2048, 1080)
        out = Path(tmp) / "out"
        store = LocalStore(out)
        t0 = time.perf_counter()
        results = [render_file(s, out, keep, store, keep_working=True) for s in sources]
        frames_s = time.perf_counter() - t0
        keys = [r.key for r in results]
        pattern = "tahoe.####.exr"
        t1 = time.perf_counter()
        review = build_clips_of(store, pattern, load_members(store, keys), keep, "review")[1][0]
        clip_s = time.perf_counter() - t1
        row = review.row
        print(f"{args.frames} frames 2048x1080 through the chain: {frames_s:.2f} s "
              f"({frames_s / args.frames:.3f} s/frame)")
        print(f"review clip ({row.frame_count} frames {row.clip_resolution}, status {row.status}): "
              f"{clip_s:.2f} s = {clip_s / frames_s:.1%} of the frames' time (target <= 15%); "
              f"read {review.timings['read_seconds']:.2f} s, display {review.timings['display_seconds']:.2f} s, "
              f"encode {review.timings['encode_seconds']:.2f} s, "
              f"quality check {review.timings['quality_seconds']:.2f} s; "
              f"{row.quality_metric} mean {row.quality_de_mean} p99 {row.quality_de_p99}, "
              f"PSNR-Y {row.quality_psnr_db} dB")
        n = min(args.profile_frames, args.frames)
        subset = load_members(store, keys[:n])
        print(f"each profile alone, one pass over {n} frames (wall s/frame of the pass: read, display render, "
              f"Y'CbCr, encode, container check and quality check):")
        print("| profile | pass s/frame | of which its encoder | size MB/frame | quality (mean / p99, PSNR-Y) "
              "| status |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name in PROFILES:
            alone = replace(keep, pipeline=replace(keep.pipeline, clip_profiles=name))
            t2 = time.perf_counter()
            o = build_clips_of(store, f"{name}.####.exr", subset, alone, "review")[1][0]
            wall = time.perf_counter() - t2
            r = o.row
            size = (r.clip_size_bytes or 0) / n / 1e6
            path = " (kept proxy planes)" if name == "review" and o.timings.get("display_seconds", 1) < 0.01 else ""
            print(f"| {name}{path} | {wall / n:.3f} | {o.timings.get('encode_seconds', 0) / n:.3f} | {size:.3f} | "
                  f"{r.quality_metric} {r.quality_de_mean} / {r.quality_de_p99}, "
                  f"{r.quality_psnr_db} dB | {r.status} |")
        every = replace(keep, pipeline=replace(keep.pipeline, clip_profiles=",".join(PROFILES)))
        t3 = time.perf_counter()
        build_clips_of(store, "every.####.exr", subset, every, "review")
        all_s = time.perf_counter() - t3
        print(f"every profile in one pass over {n} frames (each frame read once, one render per display): "
              f"{all_s:.2f} s ({all_s / n:.3f} s/frame)")

if __name__ == "__main__":
    main()
