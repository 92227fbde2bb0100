"""Prove that a refactoring left the media unchanged: the same frames, rendered by two versions of the code.

    .venv/bin/python scripts/compare_outputs.py --before HEAD [--after REV] [--keep DIR]  # default: working tree

A deterministic 24-frame chart sequence (frame 1012 left out) is written once; each version renders a fresh
copy of it with ``proxygen render --preview`` and every clip profile, at the same absolute path, with the same
environment and source mtimes (the local store's etags hold them), so any difference comes from the code.
Every output file must be byte-identical; a video may instead decode to the same pictures (then only its
container differs); JSON and OTIO are compared without the fields that hold times. Exit 0 only when nothing
differs, 2 otherwise (also when a run fails, makes no clip, or the two sets of files differ).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

import av
import numpy as np
import OpenImageIO as oiio

ROOT = Path(__file__).resolve().parents[1]
FRAMES = [n for n in range(1001, 1025) if n != 1012]  # one gap: the clips' gap policy and markers are exercised
WIDTH, HEIGHT = 320, 180
SEQUENCE = "shows/abc/sq010/sh020/comp/sh020_comp_v003"  # matches a default key template: identity is filled
ACESCG = (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767)
SOURCE_MTIME = 1_767_225_600  # 2026-01-01T00:00:00Z on every source copy: etags and fingerprints then agree
SETTINGS = {  # every profile; slates and burn-ins on some of them only, so both paths of each are covered
    "PROXYGEN_CLIP_PROFILES": "review,prores_422hq,prores_4444,dnxhr_hqx,hevc_main10,hdr_pq",
    "PROXYGEN_CLIP_SLATES": "prores_422hq,prores_4444,dnxhr_hqx,hevc_main10",
    "PROXYGEN_CLIP_BURNIN_PROFILES": "review,prores_422hq,hdr_pq",
}
TIME_KEY = re.compile(r"(^|_)(time|times|timings|timestamp|date|day|seconds|elapsed|mtime|at|created|updated|"
                      r"generated|started|finished|modified)($|_)", re.IGNORECASE)
TIME_VALUE = re.compile(r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$")
# The command must import the version under test, never the checkout the shared venv was installed from.
BOOT = ("import os, sys, proxygen_core, proxygen_dagster; t = os.path.join(os.environ['PYTHONPATH'], '')\n"
        "assert all(m.__file__.startswith(t) for m in (proxygen_core, proxygen_dagster)), proxygen_core.__file__\n"
        "from proxygen_dagster.cli import main; sys.exit(main())")
RENDER_TIMEOUT, GIT_TIMEOUT, MAX_PICTURES = 1800, 120, 100_000


class Failure(Exception):
    """A run that cannot be compared (it failed, or a tree could not be made): exit 2 with the reason."""


def chart(frame: int) -> np.ndarray:
    """Scene-linear RGB: a ramp, patches whose colours turn with the frame, super-whites, and a moving bar."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    phase = (frame - 1001) / len(FRAMES)
    img = np.stack([x / WIDTH, y / HEIGHT, np.full_like(x, 0.18)], axis=-1)
    for i in range(8):  # two rows of four patches in the middle band
        r, c = divmod(i, 4)
        hue = (i / 8 + phase) * 2 * np.pi
        colour = 0.05 + 0.6 * (0.5 + 0.5 * np.cos(hue + np.array([0.0, 2.1, 4.2], np.float32)))
        img[40 + r * 50:80 + r * 50, 20 + c * 75:80 + c * 75] = colour * (4.0 if i == 7 else 1.0)
    img[:, 8 + (frame - 1001) * 12:14 + (frame - 1001) * 12] = 0.9  # the moving bar
    return img


def write_sequence(folder: Path) -> str:
    """Write the half-float EXRs (zip, ACEScg chromaticities) and return their combined sha256, which the
    report prints so two invocations can be seen to start from the same bytes."""
    folder.mkdir(parents=True)
    digest = hashlib.sha256()
    for n in FRAMES:
        path = folder / f"{Path(SEQUENCE).name}.{n}.exr"
        spec = oiio.ImageSpec(WIDTH, HEIGHT, 3, oiio.HALF)
        spec.attribute("compression", "zip")
        spec.attribute("DateTime", "2026:01:01 00:00:00")  # else the time of writing: not the same bytes twice
        spec.attribute("chromaticities", oiio.TypeDesc("float[8]"), ACESCG)
        out = oiio.ImageOutput.create(str(path))
        if out is None or not out.open(str(path), spec) or not out.write_image(chart(n)):
            raise Failure(f"cannot write {path}: {oiio.geterror()}")
        out.close()
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git(*args: str, cwd: Path = ROOT) -> str:
    """A git command in this repository, bounded; its output."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          timeout=GIT_TIMEOUT).stdout.strip()


def render(tree: Path, source: Path, work: Path, label: str) -> tuple[Path, int]:
    """Render a fresh copy of ``source`` with the code in ``tree``, always at ``work/run`` (the reports hold
    absolute paths), then move the run to ``work/<label>``; returns that folder and the number of clips made."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    frames = run / SEQUENCE
    shutil.copytree(source, frames.parent)
    for path in frames.parent.iterdir():
        os.utime(path, (SOURCE_MTIME, SOURCE_MTIME))
    home = run / "home"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TZ": "UTC", "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8", "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"), "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", **SETTINGS}
    command = [sys.executable, "-c", BOOT, "render", *sorted(str(p) for p in frames.parent.iterdir()),
               "--out", str(run / "out"), "--preview", "-q"]
    proc = subprocess.run(command, check=False, cwd=run, env=env, capture_output=True, text=True,
                          timeout=RENDER_TIMEOUT)
    if proc.returncode != 0:
        raise Failure(f"proxygen render with {tree} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    shutil.rmtree(run / SEQUENCE.split("/")[0])  # the sources: inputs, not outputs
    run.rename(work / label)
    return work / label, sum(line.startswith("clip ") for line in proc.stdout.splitlines())


def pictures(path: Path) -> Iterator[tuple[dict[str, Any], list[bytes]]]:
    """The stream's parameters, then each decoded picture's planes (visible bytes only, no line padding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        yield {"codec": cc.name, "pix_fmt": cc.pix_fmt, "width": cc.width, "height": cc.height, "frames": stream.frames,
               "primaries": cc.color_primaries, "transfer": cc.color_trc, "matrix": cc.colorspace,
               "range": cc.color_range, "rate": str(stream.average_rate), "time_base": str(stream.time_base),
               "timecodes": [s.metadata.get("timecode") for s in container.streams]}, []
        for frame in container.decode(stream):
            comps = frame.format.components  # bytes of a row of plane i: its width times its components' bytes
            rows = [p.width * sum((c.bits + 7) // 8 for c in comps if c.plane == i) for i, p in enumerate(frame.planes)]
            yield {"pts": frame.pts, "key": frame.key_frame}, [
                np.frombuffer(bytes(p), np.uint8).reshape(-1, p.line_size)[: p.height, :row].tobytes()
                for p, row in zip(frame.planes, rows, strict=True)]


def compare_video(a: Path, b: Path) -> str | None:
    """None when both decode to the same stream parameters and pixel-identical pictures, else the reason."""
    for count, (one, two) in enumerate(zip_longest(pictures(a), pictures(b))):
        if one is None or two is None:
            return f"picture count differs after {count - 1} pictures"
        if one[0] != two[0]:
            diff = {k: (one[0][k], two[0].get(k)) for k in one[0] if one[0][k] != two[0].get(k)}
            return f"{'stream' if count == 0 else f'picture {count - 1}'} differs: {diff}"
        if one[1] != two[1]:
            planes = [i for i, (p, q) in enumerate(zip(one[1], two[1], strict=False)) if p != q]
            return f"picture {count - 1} pixels differ (planes {planes})"
        if count > MAX_PICTURES:
            return f"more than {MAX_PICTURES} pictures"
    return None


def without_times(value: Any, dropped: set[str]) -> Any:
    """The JSON value without the fields that hold times (by name, or by an ISO date-time value)."""
    if isinstance(value, dict):
        timed = {k for k, v in value.items() if TIME_KEY.search(str(k)) or (isinstance(v, str) and TIME_VALUE.match(v))}
        dropped.update(map(str, timed))
        return {k: without_times(v, dropped) for k, v in value.items() if k not in timed}
    if isinstance(value, list):
        return [without_times(item, dropped) for item in value]
    return value


RENAMED: dict[str, str] = {}  # --renamed OLD=NEW: a JSON key the change renamed on purpose (reported, not hidden)


def renamed(value: Any, seen: set[str]) -> Any:
    """The before run's JSON with the keys the change renamed under their new names."""
    if isinstance(value, dict):
        seen.update(k for k in value if k in RENAMED)
        return {RENAMED.get(k, k): renamed(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [renamed(item, seen) for item in value]
    return value


def first_difference(a: Any, b: Any, where: str = "$") -> str:
    """Where two JSON values first differ, for the reason column."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key, ...) != b.get(key, ...):
                return first_difference(a.get(key), b.get(key), f"{where}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{where}[{i}]")
    return f"{where}: {str(a)[:40]!r} != {str(b)[:40]!r}"


def verdict(a: Path, b: Path) -> tuple[bool, str]:
    """(same, verdict) for one file present in both runs."""
    if a.read_bytes() == b.read_bytes():
        return True, "identical"
    suffix = a.suffix.lower()
    if suffix in {".mp4", ".mov", ".mxf"}:
        reason = compare_video(a, b)
        return (True, "pixel-identical (container differs)") if reason is None else (False, f"DIFFERENT: {reason}")
    if suffix in {".json", ".otio"}:
        dropped: set[str] = set()
        moved: set[str] = set()
        one = without_times(renamed(json.loads(a.read_text()), moved), dropped)
        two = without_times(json.loads(b.read_text()), dropped)
        if one == two:
            note = f"; renamed: {', '.join(f'{k}->{RENAMED[k]}' for k in sorted(moved))}" if moved else ""
            return True, f"identical without times (dropped: {', '.join(sorted(dropped))}{note})"
        return False, f"DIFFERENT: {first_difference(one, two)}"
    return False, "DIFFERENT: bytes differ" + (" (JPEG)" if suffix in {".jpg", ".jpeg"} else "")


def compare(before: Path, after: Path) -> int:
    """Print the table and the summary; the number of files that differ (or exist in one run only). Every file
    a run wrote counts (outputs, reports, state, anything else); only caches under home/ are left out."""
    one, two = ({str(p.relative_to(root)): p for p in sorted(root.rglob("*"))
                 if p.is_file() and p.relative_to(root).parts[0] != "home"} for root in (before, after))
    width = max(map(len, one | two), default=4)
    print(f"{'path':{width}}  {'before':>9}  {'after':>9}  verdict")
    bad, verdicts = 0, Counter[str]()
    for rel in sorted(one.keys() | two.keys()):
        sizes = [f"{d[rel].stat().st_size:>9}" if rel in d else f"{'-':>9}" for d in (one, two)]
        if rel in one and rel in two:
            same, text = verdict(one[rel], two[rel])
        else:
            same, text = False, f"DIFFERENT: only in the {'before' if rel in one else 'after'} run"
        bad += not same
        verdicts[text.split(":")[0].split(" (")[0]] += 1
        print(f"{rel:{width}}  {sizes[0]}  {sizes[1]}  {text}")
    print(f"{len(one | two)} files: " + ", ".join(f"{n} {k}" for k, n in sorted(verdicts.items())))
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="git revision of the code before the refactoring")
    parser.add_argument("--after", help="git revision after it (default: the working tree, uncommitted changes too)")
    parser.add_argument("--keep", type=Path, help="keep the sequence and both runs' outputs in this (new) folder")
    parser.add_argument("--renamed", action="append", default=[], metavar="OLD=NEW",
                        help="a JSON key the change renames on purpose (e.g. failed_stage=failed_step)")
    args = parser.parse_args()
    RENAMED.update(item.split("=", 1) for item in args.renamed)
    if args.keep and args.keep.exists():
        parser.error(f"--keep {args.keep}: give a folder that does not exist yet")
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="proxygen-compare-"))
    work = args.keep.resolve() if args.keep else scratch / "work"
    work.mkdir(parents=True, exist_ok=False)
    trees: list[Path] = []
    try:
        digest = write_sequence(work / "source")
        print(f"source: {len(FRAMES)} frames {FRAMES[0]}-{FRAMES[-1]} (no 1012), {WIDTH}x{HEIGHT}, sha256 {digest}")
        runs = []
        for label, rev in (("before", args.before), ("after", args.after)):
            tree = ROOT if rev is None else scratch / f"tree-{label}"  # a revision: a temporary worktree
            if rev is not None:
                commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
                git("worktree", "add", "--detach", "--quiet", str(tree), commit)
                trees.append(tree)
            out, clips = render(tree, work / "source", work, label)
            print(f"{label}: {rev or 'working tree'} ({tree}): {clips} clips, outputs in {out}")
            runs.append((out, clips))
        bad = compare(runs[0][0], runs[1][0])
        empty = [label for label, (_, clips) in zip(("before", "after"), runs, strict=True) if clips == 0]
        if empty:
            print(f"FAILED: no clip made by the {' and '.join(empty)} run")
        print(f"{'UNCHANGED' if not bad and not empty else 'CHANGED'}: {bad} file(s) differ "
              f"({time.monotonic() - started:.1f} s)")
        return 0 if not bad and not empty else 2
    except (Failure, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"FAILED: {exc}\n{getattr(exc, 'stderr', '') or ''}".rstrip(), file=sys.stderr)
        return 2
    finally:
        for tree in trees:
            git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
