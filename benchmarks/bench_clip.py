"""What a sequence's review clip costs beyond its frames, in one run on this machine.

Renders an N-frame 2K sequence frame by frame (``render_file``, the chain over a local folder: decode, colour, thumbnail, proxy: the
per-frame work), then builds the clip and poster from those proxies (``write_sequence_clips``), and prints
the clip time as a fraction of the frames' time (target: at most 10%) and the latency from the last
frame's outputs to the finished clip.
Usage: python benchmarks/bench_clip.py [--frames 240]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from proxygen_core.media.samples import write_sequence
from proxygen_core.pipeline.folder import render_file, write_sequence_clips
from proxygen_core.settings import RenderSettings, Settings
from proxygen_core.store.local import LocalStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    settings = RenderSettings()
    with tempfile.TemporaryDirectory() as tmp:
        sources = write_sequence(Path(tmp) / "in", frames=args.frames, width=2048, height=1080)
        out = Path(tmp) / "out"
        t0 = time.perf_counter()
        store = LocalStore(out)
        results = [render_file(s, out, Settings(render=settings), store) for s in sources]
        frames_done = time.perf_counter()
        clips = write_sequence_clips(results, store, Settings(render=settings))
        clip_done = time.perf_counter()
    frames_s, clip_s = frames_done - t0, clip_done - frames_done
    print(f"{args.frames} frames 2048x1080: frames {frames_s:.2f} s ({frames_s / args.frames:.3f} s/frame)")
    print(f"clip {clips[0]['frame_count']} frames {clips[0]['clip_resolution']}: {clip_s:.2f} s "
          f"= {clip_s / frames_s:.1%} of the frames' time (target <= 10%); latency after the last frame {clip_s:.2f} s")


if __name__ == "__main__":
    main()
