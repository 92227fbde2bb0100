"""A small mutation check: plausible bugs applied one at a time to a copy of the code, each of which the
quick test subset must catch. Prints one line per mutant and exits non-zero if any survives.

    .venv/bin/python scripts/mutants.py            # all mutants (about 3 minutes on 2 cores)
    .venv/bin/python scripts/mutants.py bt601      # one of them

Each mutant names the file, the exact text it replaces (it must occur once) and the tests that should
catch it; those tests run with -x in the copy, which is imported first (PYTHONPATH), never the checkout.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    # which of those tests run: the quick subset's, unless the catching test starts a local process of its own
    select: str = "not services and not slow"


MUTANTS = [
    Mutant(
        "bt601",
        "BT.601 weights in the one R'G'B' -> Y'CbCr table (proxies and deliverables read it)",
        "proxygen_core/media/yuv.py",
        '"bt709": (0.2126, 0.0722)',
        '"bt709": (0.299, 0.114)',
        ("tests/test_mp4.py", "tests/test_colour_accuracy.py", "tests/test_deliverables.py"),
    ),
    Mutant(
        "full_range",
        "full-range luma codes in a stream tagged limited",
        "proxygen_core/media/encode.py",
        "flat[:n] = _code8(y, 16.0, 219.0)",
        "flat[:n] = _code8(y, 0.0, 255.0)",
        ("tests/test_mp4.py", "tests/test_colour_accuracy.py"),
    ),
    Mutant(
        "wrong_transfer",
        "the proxy rendered for an sRGB display instead of Rec.1886 (BT.709 video)",
        "proxygen_core/settings.py",
        'proxy_display: str = "Rec.1886 Rec.709 - Display"',
        'proxy_display: str = "sRGB - Display"',
        ("tests/test_colour_accuracy.py",),
    ),
    Mutant(
        "timecode_slip",
        "a clip's start timecode one frame late",
        "proxygen_core/pipeline/sequence/plan.py",
        "tc = header_timecode if header_timecode and first_with_picture == start else timecode(start, fps)",
        "tc = header_timecode if header_timecode and first_with_picture == start else timecode(start + 1, fps)",
        ("tests/test_cli.py", "tests/test_sequences.py"),
    ),
    Mutant(
        "qc_disabled",
        "output QC never fails a key",
        "proxygen_core/pipeline/stages.py",
        '    if not check.passed:\n        raise QCFailure(store.uri(key), "; ".join(check.problems))',
        "    return",
        ("tests/test_qc_checks.py",),
    ),
    Mutant(
        "gap_unmarked",
        "a held gap frame passes for a real one (no mark)",
        "proxygen_core/media/clips.py",
        "    out[top:top + band] = mark_band(out[top:top + band], text, font, display)\n",
        "",
        ("tests/test_sequences.py",),
    ),
    Mutant(
        "pq_graphics_at_peak",
        "graphics on the PQ profile at SDR code values (white = PQ 1.0 = 10,000 cd/m2), not 203 cd/m2",
        "proxygen_core/media/graphics.py",
        "    if not is_pq(display):\n        return v\n",
        "    return v\n",
        ("tests/test_graphics.py",),
    ),
    Mutant(
        "quality_frame_wide",
        "the quality figure over the whole frame: black around a small picture dilutes its error",
        "proxygen_core/media/clip_quality.py",
        "        des.append(de_blocks[content].reshape(-1))",
        "        des.append(de_blocks.reshape(-1))",
        ("tests/test_clip_quality.py",),
    ),
    Mutant(
        "row_twice",
        "a re-recorded unchanged source adds a second (history) row",
        "proxygen_core/catalog/sql.py",
        "if old is not None and is_new_version(old, row):",
        "if old is not None:",
        ("tests/test_catalog.py",),
    ),
    Mutant(
        "resize_shift",
        "the banded resize reads each tap one source pixel late",
        "proxygen_core/media/resample.py",
        "    source = k + np.round((centre[o] - k) / comb).astype(np.int64) * comb\n",
        "    source = k + np.round((centre[o] - k) / comb).astype(np.int64) * comb + 1\n",
        ("tests/test_resample.py", "tests/test_colour_accuracy.py"),
    ),
    Mutant(
        "stripe_channels",
        "the striped EXR read ignores which channels were asked for, and their order",
        "proxygen_core/media/render.py",
        "        out[y:y1] = block if pick is None else block[..., pick]",
        "        out[y:y1] = block[..., :len(chans)]",
        ("tests/test_decode.py",),
    ),
    Mutant(
        "pid_reuse",
        "a run worker's health ignores its start time (a reused process id passes for it)",
        "proxygen_dagster/launch/forked.py",
        "return started is not None and started == self.started",
        "return started is not None",
        ("tests/test_forked_launcher.py",),
    ),
    Mutant(
        "cold_runs",
        "runs spawned cold instead of forked from the warm server",
        "proxygen_dagster/launch/forked.py",
        '            context = multiprocessing.get_context("forkserver")\n'
        '            context.set_forkserver_preload(self._preload)\n',
        '            context = multiprocessing.get_context("spawn")\n',
        ("tests/test_forked_launcher.py",),
        "not slow",  # the launcher tests start a fork server and run workers (marked services)
    ),
]


def copy_tree(target: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)


def run(mutant: Mutant, base: Path) -> tuple[bool, float, str]:
    work = base / mutant.name
    shutil.copytree(base / "clean", work, symlinks=True)
    path = work / mutant.path
    text = path.read_text()
    assert text.count(mutant.old) == 1, f"{mutant.name}: the text to replace occurs {text.count(mutant.old)} times"
    path.write_text(text.replace(mutant.old, mutant.new))
    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    probe = subprocess.run([sys.executable, "-c", "import proxygen_core; print(proxygen_core.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert probe.startswith(str(work)), f"{mutant.name}: imported {probe}, not the mutated copy"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                           "-m", mutant.select, *mutant.tests], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return proc.returncode != 0, time.monotonic() - t0, failed[0] if failed else proc.stdout.strip()[-200:]


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or m.name in argv]
    survived = 0
    with tempfile.TemporaryDirectory(prefix="proxygen-mutants-") as tmp:
        base = Path(tmp)
        copy_tree(base / "clean")
        for mutant in chosen:
            caught, seconds, evidence = run(mutant, base)
            survived += not caught
            print(f"{'caught  ' if caught else 'SURVIVED'} {mutant.name:<15} {seconds:5.1f} s  {mutant.what}\n"
                  f"         {evidence}", flush=True)
    print(f"{len(chosen) - survived} of {len(chosen)} mutants caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
