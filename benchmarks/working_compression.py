"""The working EXR's lossless compressions compared: CPU to write and to read back, and size.

The working frame (1920x1012 half RGBA) is written once per source frame by the run worker and uploaded;
every megabyte uploaded also costs the storage server CPU (SeaweedFS here: ~10 ms a MB, bench_ingest.py's
"storage" line). Pictures: three photographic EXRs of ../shared/testdata mirrored to 1920x1012, and the
synthetic chart with noise that bench_ingest.py renders. CPU is the process's (all threads), median of 5.

    .venv/bin/python benchmarks/working_compression.py
"""
from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path
from statistics import median

import numpy as np
import OpenImageIO as oiio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import describe  # noqa: E402  (benchmarks/machine.py)

from proxygen_core.media.samples import chart  # noqa: E402
from proxygen_core.settings import WORKING_COMPRESSIONS  # noqa: E402
from tests.conftest import TESTDATA  # noqa: E402

PHOTOS = ("openexr-images/Tiles/GoldenGate.exr", "openexr-images/ScanLines/Cannon.exr",
          "openexr-images/ScanLines/Carrots.exr")
W, H = 1920, 1012
CANDIDATES = (*WORKING_COMPRESSIONS, "zip:1")  # zip at compression level 1 (OpenEXR's default is 4)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def mirrored(path: Path) -> np.ndarray:
    pic = oiio.ImageBuf(str(path)).get_pixels(oiio.FLOAT)[..., :3]
    tile = np.concatenate([pic, pic[:, ::-1]], 1)
    tile = np.concatenate([tile, tile[::-1]], 0)
    return np.tile(tile, (-(-H // tile.shape[0]), -(-W // tile.shape[1]), 1))[:H, :W]


def pictures() -> dict[str, np.ndarray]:
    base, _ = chart(W, H)
    noisy = base[..., :3] + np.random.default_rng(7).normal(0, 0.01, (H, W, 3)).astype(np.float32)
    out = {"chart + noise (bench_ingest)": noisy}
    for rel in PHOTOS:
        if (TESTDATA / rel).exists():
            out[Path(rel).name] = mirrored(TESTDATA / rel)
    return out


def main() -> int:
    print("machine:", describe())
    if len(pictures()) == 1:
        print(f"(no photographs: {TESTDATA} is absent; the synthetic chart only)")
    path = Path(tempfile.mkdtemp()) / "working.exr"
    print(f"{'picture':30s} {'compression':11s} {'write ms CPU':>12s} {'read ms CPU':>11s} {'MB':>6s}")
    for name, rgb in pictures().items():
        half = np.ascontiguousarray(np.dstack([rgb, np.ones((H, W, 1), np.float32)]).astype(np.float16))
        for compression in CANDIDATES:
            spec = oiio.ImageSpec(W, H, 4, oiio.HALF)
            spec.attribute("compression", compression)
            writes, reads = [], []
            for _ in range(5):
                c0 = cpu()
                out = oiio.ImageOutput.create(str(path))
                out.open(str(path), spec)
                out.write_image(half)
                out.close()
                c1 = cpu()
                inp = oiio.ImageInput.open(str(path))
                back = inp.read_image(0, 0, 0, 4, oiio.HALF)
                inp.close()
                reads.append(cpu() - c1)
                writes.append(c1 - c0)
            assert np.array_equal(back.view(np.uint16), half.view(np.uint16)), f"{compression} is not lossless"
            print(f"{name[:30]:30s} {compression:11s} {1000 * median(writes):12.1f} {1000 * median(reads):11.1f} "
                  f"{os.path.getsize(path) / 1e6:6.2f}")
    path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
