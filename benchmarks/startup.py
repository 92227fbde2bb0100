"""What a fresh `proxygen render` process pays before its first pixel, step by step, in one new process each
run (median of 5): the imports (and which libraries weigh most), the OCIO config, the display processors
the render uses (the proxy's baked LUT from the disk cache, the thumbnail's exact transform), PyAV's encoder.

    .venv/bin/python benchmarks/startup.py
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

PROBE = r"""
import json, time
t0 = time.perf_counter()
import numpy, OpenImageIO, PyOpenColorIO, av
t1 = time.perf_counter()
from proxygen_core.pipeline.folder import render_file
from proxygen_core.settings import Settings
t2 = time.perf_counter()
from proxygen_core.colour.engine import engine
s = Settings().render
eng = engine(s.ocio_config)
t3 = time.perf_counter()
eng.display("ACEScg", s.proxy_display, "ACES 2.0 - SDR 100 nits (Rec.709)", s.display_transform, s.display_lut_size)
t4 = time.perf_counter()
eng.display("ACEScg", s.thumb_display, "ACES 2.0 - SDR 100 nits (Rec.709)", "exact")
t5 = time.perf_counter()
av.codec.Codec("libx264", "w")
t6 = time.perf_counter()
print(json.dumps({"native libraries (numpy, OpenImageIO, OpenColorIO, PyAV)": t1 - t0, "proxygen modules": t2 - t1,
                  "OCIO config": t3 - t2, "proxy display LUT (disk cache)": t4 - t3,
                  "thumbnail exact processor": t5 - t4, "libx264 lookup": t6 - t5}))
"""


def main() -> int:
    print("machine:", describe())
    subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True)  # fills the LUT cache
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True,
                                      text=True).stdout) for _ in range(5)]
    total = 0.0
    for step in runs[0]:
        value = statistics.median(r[step] for r in runs)
        total += value
        print(f"  {step:<60} {value * 1000:7.1f} ms")
    print(f"  {'total before the first pixel (after the interpreter starts)':<60} {total * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
