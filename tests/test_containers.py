"""What the deliverables' containers say (issue 30, items 3 and 4), read by Debian's ffprobe/ffmpeg (not the
libav in the PyAV wheel that wrote them) and by the test's own box parser: moov before mdat in every MOV
and MP4; ProRes sample descriptions with vendor apl0; HDR10 mdcv/clli boxes and SEI carrying MaxCLL /
MaxFALL measured from the pictures (recomputed here from ffmpeg's decode)."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from proxygen_core.profiles import PROFILES

from .media import ffmpeg_planes, ffprobe_json
from .test_deliverables import _render_sequence, _settings
from .test_graphics import st2084_nits


def atoms(path) -> list[str]:
    """Top-level box types in file order (the test's own reading of ISO/IEC 14496-12)."""
    out, data = [], open(path, "rb").read()
    pos = 0
    while pos + 8 <= len(data) and len(out) < 64:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        size = struct.unpack(">Q", data[pos + 8:pos + 16])[0] if size == 1 else size or len(data) - pos
        out.append(kind.decode("latin-1"))
        assert size >= 8, f"{path}: box {kind!r} of size {size}"
        pos += size
    assert pos == len(data), f"{path}: boxes end at {pos}, the file at {len(data)}"
    return out


def _side(entries: list[dict]) -> dict[str, dict]:
    return {e["side_data_type"]: e for e in entries}


def _frac(text: str) -> float:
    num, den = text.split("/")
    return int(num) / int(den)


@pytest.mark.slow
def test_containers_faststart_vendor_and_measured_hdr10(tmp_path):
    frames = [1, 2, 4, 5]  # 3 is missing: a gap picture (and the editorial profiles' slate) are in the files
    rows, _ = _render_sequence(tmp_path, frames, (320, 180), _settings())
    for name, row in rows.items():
        assert row.status == "ok", f"{name}: {row.error}"
        top = atoms(row.clip_s3_key)
        assert "moov" in top and "mdat" in top and top.index("moov") < top.index("mdat"), f"{name}: {top}"
        video = ffprobe_json(row.clip_s3_key, "-show_streams", "-select_streams", "v:0")["streams"][0]
        vendor = video.get("tags", {}).get("vendor_id")
        if name.startswith("prores"):
            assert vendor == "apl0", f"{name}: vendor {vendor}"
        # the remuxed files still decode whole: every picture, no error
        assert int(video["nb_frames"]) == 5 + row.slate_frames, name

    hdr = rows["hdr_pq"].clip_s3_key
    stream = ffprobe_json(hdr, "-show_streams", "-select_streams", "v:0")["streams"][0]
    box = _side(stream.get("side_data_list", []))
    assert {"Mastering display metadata", "Content light level metadata"} <= set(box), stream
    mastering = box["Mastering display metadata"]
    # the mastering display: P3 D65 primaries, 0.005 - 1000 cd/m2
    assert (_frac(mastering["red_x"]), _frac(mastering["red_y"])) == pytest.approx((0.68, 0.32))
    assert (_frac(mastering["white_point_x"]), _frac(mastering["white_point_y"])) == pytest.approx((0.3127, 0.329))
    assert (_frac(mastering["min_luminance"]), _frac(mastering["max_luminance"])) == pytest.approx((0.005, 1000))
    cll = box["Content light level metadata"]
    first = ffprobe_json(hdr, "-show_frames", "-read_intervals", "%+#1", "-select_streams", "v:0")["frames"][0]
    sei = _side(first.get("side_data_list", []))["Content light level metadata"]
    assert (sei["max_content"], sei["max_average"]) == (cll["max_content"], cll["max_average"])  # SEI = box

    # MaxCLL / MaxFALL recomputed from ffmpeg's decode: BT.2020 NCL, limited range, ST 2084
    brightest, average = 0.0, 0.0
    for y, cb, cr in ffmpeg_planes(hdr, "yuv420p10le"):
        cb, cr = (np.repeat(np.repeat(c.astype(np.float64), 2, 0), 2, 1) for c in (cb, cr))
        yy, pb, pr = (y / 4 - 16) / 219, (cb / 4 - 128) / 224, (cr / 4 - 128) / 224
        kr, kb = 0.2627, 0.0593
        r, b = yy + 2 * (1 - kr) * pr, yy + 2 * (1 - kb) * pb
        g = (yy - kr * r - kb * b) / (1 - kr - kb)
        nits = st2084_nits(np.stack([r, g, b], -1)).max(-1)
        brightest, average = max(brightest, nits.max()), max(average, nits.mean())
    print(f"MaxCLL {cll['max_content']} (decoded {brightest:.0f}), MaxFALL {cll['max_average']} "
          f"(decoded {average:.1f})")
    assert cll["max_content"] == pytest.approx(brightest, rel=0.08)
    assert cll["max_average"] == pytest.approx(average, rel=0.05, abs=2)
    assert (cll["max_content"], cll["max_average"]) != (1000, 400)  # not the old fixed values
    assert PROFILES["hdr_pq"].hdr
