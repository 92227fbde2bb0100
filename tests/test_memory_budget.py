"""Memory admission (media/memory.py): a frame over PROXYGEN_MAX_FRAME_MEMORY is rendered in stripes with the
same pixels as the whole-image render, or refused as too_large before any pixel is read where it cannot be
striped; the rest of a batch is not disturbed. Small frames with tiny budgets force each path; the process's
RSS is pinned to 0 (``rss_zero``) so the decision depends on the frame alone, and where a small test frame's
fixed outputs share would hide the decode's size it is pinned too (``no_fixed_outputs``)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from proxygen_core.errors import SourceTooLargeError
from proxygen_core.media import memory
from proxygen_core.media import render as render_mod
from proxygen_core.media.render import decode_working
from proxygen_core.media.samples import CHROMATICITIES, write_exr
from proxygen_core.pipeline.folder import render_file
from proxygen_core.probe import probe
from proxygen_core.settings import RenderSettings, Settings, load_settings

from .formats import deep_one_sample_exr, inset_exr, noisy_rgba_exr

MIB = 2**20
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rss_zero(monkeypatch):
    monkeypatch.setattr(memory, "process_rss_bytes", lambda: 0)


@pytest.fixture
def no_fixed_outputs(monkeypatch):
    monkeypatch.setattr(memory, "OUTPUT_FIXED_BYTES", 0)


def _stripe_lines(path: Path) -> int:
    inp = oiio.ImageInput.open(str(path))
    try:
        return render_mod._stripe_lines(inp.spec())
    finally:
        inp.close()


def _budget_between(path: Path, settings: RenderSettings, channels: int, linear: bool) -> int:
    """A budget (MiB) the whole-image render exceeds and the smallest streamed one fits in."""
    record, lines = probe(path), _stripe_lines(path)
    whole = memory.estimate_frame_memory(record, settings, channels, linear, stripe_lines=lines)
    least = memory.estimate_frame_memory(record, settings, channels, linear, True, 0, lines)
    assert whole.total - least.total > 2 * MIB, (whole, least)
    return (least.total // MIB) + 1


@pytest.mark.parametrize("source,alpha,tiled,compression", [
    (None, False, False, "zip"),  # linear: resized raw, converted small
    (None, True, True, "piz"),  # linear with the working alpha, tiled
    ("sRGB Encoded Rec.709 (sRGB)", False, False, "dwab"),  # non-linear: each stripe converted first
    ("sRGB Encoded Rec.709 (sRGB)", True, False, "none"),
])
def test_streamed_render_is_the_whole_image_render(tmp_path, rss_zero, no_fixed_outputs, source, alpha, tiled,
                                                   compression):
    path = noisy_rgba_exr(tmp_path / "f.exr", tiled=tiled, compression=compression)
    base = RenderSettings(working_alpha=alpha, proxy_max_width=400, proxy_max_height=300)
    whole = decode_working(str(path), base, source)
    budget = _budget_between(path, base, 4 if alpha else 3, source is None)
    streamed = decode_working(str(path), dataclasses.replace(base, max_frame_memory=budget), source)
    assert not whole.streamed and streamed.streamed
    assert streamed.pixels.shape == whole.pixels.shape == (300, 400, 3)
    scale = max(1.0, float(np.abs(whole.pixels).max()))
    assert np.abs(streamed.pixels - whole.pixels).max() <= 1e-5 * scale
    assert np.isfinite(streamed.pixels).all()
    assert streamed.nonfinite_pixels == whole.nonfinite_pixels == (0 if compression == "dwab" else 2)  # DWAB: lossy
    if alpha:
        assert np.abs(streamed.alpha - whole.alpha).max() <= 1e-5
    else:
        assert streamed.alpha is None and whole.alpha is None
    assert (streamed.source_width, streamed.source_height) == (whole.source_width, whole.source_height)


def test_a_tight_budget_narrows_the_window_and_reads_each_row_once(tmp_path, rss_zero, no_fixed_outputs,
                                                                    monkeypatch):
    path = noisy_rgba_exr(tmp_path / "f.exr", nonfinite=False)
    base = RenderSettings(proxy_max_width=400, proxy_max_height=300)
    budget = _budget_between(path, base, 3, True)
    reads: list[tuple[int, int]] = []
    real = render_mod._read_striped

    def counting(inp, chans, striped, reuse=False, rows=None, out=None):
        reads.append(rows)
        return real(inp, chans, striped, reuse, rows, out)

    monkeypatch.setattr(render_mod, "_read_striped", counting)
    admission = memory.admit(probe(path), dataclasses.replace(base, max_frame_memory=budget), 3, True,
                             stripe_lines=_stripe_lines(path))
    assert admission.streamed and admission.window_rows < memory.STREAM_WINDOW_ROWS
    frame = decode_working(str(path), dataclasses.replace(base, max_frame_memory=budget))
    assert frame.streamed
    covered = sorted(reads)
    assert covered[0][0] == 0 and covered[-1][1] == 768
    assert all(
        a[1] == b[0] for a, b in zip(covered, covered[1:], strict=False)
    )  # every source row decoded exactly once


def test_a_frame_within_the_budget_takes_the_whole_image_path(tmp_path, rss_zero):
    path = noisy_rgba_exr(tmp_path / "f.exr", width=320, height=200, nonfinite=False)
    frame = decode_working(str(path), RenderSettings())
    assert not frame.streamed
    assert not memory.admit(probe(path), RenderSettings(), 3, True).streamed


def test_the_process_rss_counts_against_the_budget(tmp_path, monkeypatch):
    path = noisy_rgba_exr(tmp_path / "f.exr", width=320, height=200, nonfinite=False)
    record = probe(path)
    settings = RenderSettings(max_frame_memory=1024)
    need = memory.estimate_frame_memory(record, settings, 3, True).total
    monkeypatch.setattr(memory, "process_rss_bytes", lambda: 1024 * MIB - need)
    assert not memory.admit(record, settings, 3, True).streamed
    monkeypatch.setattr(memory, "process_rss_bytes", lambda: 1024 * MIB - need + 1)
    assert memory.admit(record, settings, 3, True).streamed  # the same frame, less room: streamed
    monkeypatch.setattr(memory, "process_rss_bytes", lambda: 1100 * MIB)
    with pytest.raises(SourceTooLargeError, match=r"even in stripes .* budget of 1024 MiB"):
        memory.admit(record, settings, 3, True)


@pytest.mark.parametrize("kind", ["inset data window", "deep", "preview"])
def test_a_frame_that_cannot_be_striped_is_refused_before_any_pixel_is_read(tmp_path, rss_zero, monkeypatch, kind):
    if kind == "deep":
        path, settings = deep_one_sample_exr(tmp_path / "d.exr"), RenderSettings(max_frame_memory=1)
        cause = "deep samples"
    elif kind == "preview":
        path, settings = noisy_rgba_exr(tmp_path / "p.exr", nonfinite=False), RenderSettings(max_frame_memory=1,
                                                                                       preview_enabled=True)
        cause = "preview"
    else:
        path, settings = inset_exr(tmp_path / "i.exr"), RenderSettings(max_frame_memory=1)
        cause = "data window"
    touched: list[str] = []
    for name in ("_read_pixels", "_read_striped", "_open_buf", "_streamed_small"):
        real = getattr(render_mod, name)
        monkeypatch.setattr(render_mod, name, lambda *a, _n=name, _r=real, **k: touched.append(_n) or _r(*a, **k))
    t0 = time.perf_counter()
    with pytest.raises(SourceTooLargeError) as err:
        decode_working(str(path), settings)
    assert time.perf_counter() - t0 < 1.0
    assert touched == []  # refused from the header: no read was even started
    message = str(err.value)
    assert err.value.kind == "too_large" and str(path) in message and cause in message
    assert "budget of 1 MiB" in message and "needs an estimated" in message


def test_the_chain_records_too_large_and_the_other_frames_still_render(tmp_path, rss_zero):
    """Through the chain ``proxygen render`` runs: the refused frame's report says too_large, the next renders."""
    folder = tmp_path / "in"
    folder.mkdir()
    big = inset_exr(folder / "big.exr", 1024, 768)
    small = folder / "small.exr"
    write_exr(small, np.full((90, 160, 3), 0.18, np.float32), CHROMATICITIES["ACEScg"])
    record = probe(big)
    budget = memory.estimate_frame_memory(record, RenderSettings(), 3, True).total // MIB - 1
    small_need = memory.estimate_frame_memory(probe(small), RenderSettings(), 3, True).total
    assert small_need < budget * MIB  # the small one fits where the big one does not
    settings = Settings().with_render(max_frame_memory=budget)
    out = tmp_path / "out"
    results = [render_file(p, out, settings) for p in (big, small)]
    assert [r.ok for r in results] == [False, True]
    report = json.loads((out / "big.json").read_text())
    assert report["status"] == "failed" and report["error"]["kind"] == "too_large"
    assert f"budget of {budget} MiB" in report["error"]["cause"]
    assert json.loads((out / "small.json").read_text())["status"] == "ok"
    assert (out / "small_thumb.jpg").exists() and not (out / "big_thumb.jpg").exists()


def test_the_cli_reports_too_large_and_goes_on(tmp_path):
    """`proxygen render` itself, with the budget from the environment: exit 1, the error line, the other frame."""
    folder = tmp_path / "in"
    folder.mkdir()
    big = inset_exr(folder / "big.exr", 1024, 768)
    small = folder / "small.exr"
    write_exr(small, np.full((90, 160, 3), 0.18, np.float32), CHROMATICITIES["ACEScg"])
    env = {"PATH": "/usr/bin:/bin", "PROXYGEN_MAX_FRAME_MEMORY": "1", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "proxygen_core.cli", "render", str(big), str(small), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert run.returncode != 0
    assert f"error: {big}" in run.stderr and "budget of 1 MiB" in run.stderr
    assert json.loads((tmp_path / "out" / "big.json").read_text())["error"]["kind"] == "too_large"
    # 1 MiB is below any process's RSS: the small frame is refused too, by the same rule (the whole RSS counts)
    assert json.loads((tmp_path / "out" / "small.json").read_text())["error"]["kind"] == "too_large"


def test_the_budget_is_a_setting_outside_the_render_hash():
    settings = load_settings(env={"PROXYGEN_MAX_FRAME_MEMORY": "1536"})
    assert settings.render.max_frame_memory == 1536 and RenderSettings().max_frame_memory == 2048
    assert settings.render.settings_hash() == RenderSettings().settings_hash()  # same pixels: outputs stay fresh
    with pytest.raises(ValueError, match="PROXYGEN_MAX_FRAME_MEMORY"):
        load_settings(env={"PROXYGEN_MAX_FRAME_MEMORY": "two gigs"})


@pytest.mark.slow
def test_a_16k_half_exr_renders_within_the_default_budget(tmp_path):
    """The issue's frame: 16384x16384 half RGBA, rendered by `proxygen render` in its own process with the
    default 2048 MiB budget; its peak RSS (ru_maxrss of a small wrapper's child) stays inside it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_memory import write_large_exr
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    frame = tmp_path / "ramp_16k.exr"
    write_large_exr(frame, 16384, 16384)
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    run = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "proxygen_core.cli", "render",
                          str(frame), "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    code, peak_kib = (int(v) for v in run.stdout.split())
    assert code == 0, run.stderr
    report = json.loads((tmp_path / "out" / "ramp_16k.json").read_text())
    assert report["status"] == "ok" and report["proxy"]["resolution"] == "1080x1080"
    assert peak_kib / 1024 <= 2048, f"peak RSS {peak_kib / 1024:.0f} MiB over the 2048 MiB budget"


def test_a_frame_refused_only_for_what_this_worker_holds_is_infrastructure_not_too_large(tmp_path, monkeypatch):
    """The same file gets the same answer in every worker: a frame that cannot be striped but fits the budget in a
    fresh worker is refused for this worker's grown RSS as transient infrastructure, never a permanent too_large."""
    from proxygen_core.errors import INFRASTRUCTURE, WorkerMemoryError, failure_class

    path, settings = inset_exr(tmp_path / "i.exr"), RenderSettings(max_frame_memory=512)
    monkeypatch.setattr(memory, "process_rss_bytes", lambda: 510 * MIB)  # a worker grown by earlier frames
    with pytest.raises(WorkerMemoryError) as err:
        decode_working(str(path), settings)
    assert err.value.transient and failure_class([err.value.kind]) == INFRASTRUCTURE
    assert "fits the budget of 512 MiB in a fresh worker but not beside the 510 MiB this one holds" in str(err.value)
    monkeypatch.setattr(memory, "process_rss_bytes", lambda: memory.FRESH_WORKER_BYTES)
    assert decode_working(str(path), settings).width > 0  # a fresh worker renders it
