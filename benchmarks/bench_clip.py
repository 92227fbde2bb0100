"""What a sequence's deliverables cost beyond its frames, in one run on this machine.

Makes an N-frame 2048x1080 sequence from a real photograph (``tahoe-gps.jpg`` from ../shared/testdata,
converted to scene-linear ACEScg half-float EXRs, panning 2 px per frame; a synthetic chart sequence when
the test data is absent), renders it frame by frame through the chain (``render_file``: decode, colour,
working frame, thumbnail, proxy), then:
- builds the ``review`` clip from the working frames and prints its time as a fraction of the frames' time
  (target: at most 15%);
- builds every profile on the first ``--profile-frames`` frames (kept working frames) and prints the seconds
  per frame of each profile's encoder, and of the shared read + display work per display.
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

from proxygen_core.media.profiles import PROFILES
from proxygen_core.media.samples import CHROMATICITIES, write_exr, write_sequence
from proxygen_core.pipeline.folder import render_file
from proxygen_core.pipeline.sequence import build_sequence_clips, load_members
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
        review = build_sequence_clips(store, pattern, load_members(store, keys), keep, "review")[0]
        clip_s = time.perf_counter() - t1
        row = review.row
        print(f"{args.frames} frames 2048x1080 through the chain: {frames_s:.2f} s ({frames_s / args.frames:.3f} s/frame)")
        print(f"review clip from the working frames ({row['frame_count']} frames {row['clip_resolution']}, "
              f"status {row['status']}): {clip_s:.2f} s = {clip_s / frames_s:.1%} of the frames' time (target <= 15%); "
              f"read {review.timings['read_seconds']:.2f} s, display {review.timings['display_seconds']:.2f} s, "
              f"encode {review.timings['encode_seconds']:.2f} s, quality check {review.timings['quality_seconds']:.2f} s; "
              f"{row['quality_metric']} mean {row['quality_de_mean']} p99 {row['quality_de_p99']}, "
              f"PSNR-Y {row['quality_psnr_db']} dB")
        n = min(args.profile_frames, args.frames)
        subset = load_members(store, keys[:n])
        every = replace(keep, pipeline=replace(keep.pipeline, clip_profiles=",".join(PROFILES)))
        t2 = time.perf_counter()
        outcomes = build_sequence_clips(store, "tahoe_first.####.exr", subset, every, "review")
        all_s = time.perf_counter() - t2
        print(f"every profile in one pass over {n} frames: {all_s:.2f} s ({all_s / n:.3f} s/frame); shared read "
              f"{outcomes[0].timings['read_seconds'] / n:.3f} s/frame, display (SDR LUT + PQ) "
              f"{outcomes[0].timings['display_seconds'] / n:.3f} s/frame")
        print("| profile | encoder s/frame | size MB/frame | quality (mean / p99, PSNR-Y) | status |")
        print("| --- | --- | --- | --- | --- |")
        for o in outcomes:
            r = o.row
            size = (r.get("clip_size_bytes") or 0) / n / 1e6
            print(f"| {o.profile} | {o.timings.get('encode_seconds', 0) / n:.3f} | {size:.3f} | "
                  f"{r.get('quality_metric')} {r.get('quality_de_mean')} / {r.get('quality_de_p99')}, "
                  f"{r.get('quality_psnr_db')} dB | {r['status']} |")


if __name__ == "__main__":
    main()
