"""The ``proxygen`` command. Exit code is non-zero when any source failed or a clip failed its quality check."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from proxygen_core import __version__
from proxygen_core.editorial.command import add_cuts_command
from proxygen_core.identity_command import add_command as add_identity_command
from proxygen_core.probe import probe
from proxygen_core.report import add_commands
from proxygen_core.settings import Settings, load_settings

if TYPE_CHECKING:
    from proxygen_core.pipeline.chain import KeyResult
    from proxygen_core.rows import ClipRow
    from proxygen_core.store.local import LocalStore


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more")
    return value


def _frame_sources(given: list[str], store: LocalStore, settings: Settings) -> tuple[list[str], int]:
    """The files the frame chain takes, and how many arguments were errors (folders). Every other file is
    skipped by the registry of inputs, as the pipeline skips it: one ``skipped: <file>: <reason>`` line and its
    report each, and not a failure (a ``.psd`` in ``shot/*`` must not fail the batch)."""
    from proxygen_core.pipeline.folder import skip_file
    from proxygen_core.store.inputs import classify

    sources, failed = [], 0
    for source in given:
        verdict = classify(str(Path(source).absolute()), settings.pipeline.extension_set())
        if Path(source).is_dir():  # a folder is not a frame: say so, write nothing for it
            failed += 1
            print(f"error: {source}: is a folder; give its files (e.g. {source.rstrip('/')}/*.exr)", file=sys.stderr)
        elif not verdict.source and Path(source).is_file():
            skip_file(source, verdict, store, settings)
            print(f"skipped: {source}: {verdict.reason}", flush=True)
        else:
            sources.append(source)
    return sources, failed


def quality_line(clip: ClipRow) -> str:
    """A clip row's quality figures, bounds and verdict (media/clip_quality.py's one line)."""
    from proxygen_core.media.clip_quality import figures_line
    from proxygen_core.profiles import PROFILES

    passed = None if clip.quality_passed is None else bool(clip.quality_passed)
    return figures_line(clip.quality_metric, clip.quality_de_mean, clip.quality_de_p99, clip.quality_psnr_db,
                        passed, PROFILES[clip.profile or "review"].bound)


def _render(args: argparse.Namespace) -> int:
    from proxygen_core.pipeline.folder import FRAMES_IN_FLIGHT, render_files, write_sequence_clips
    from proxygen_core.store.local import LocalStore

    settings = load_settings(args.config).with_render(
        ocio_config=args.ocio_config, view=args.view, source_colorspace=args.source_colorspace,
        thumb_display=args.thumb_display or args.display, proxy_display=args.proxy_display or args.display,
        preview_enabled=True if args.preview else None,
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: is a file; give a folder (it is created if missing)")
    store = LocalStore(out)
    sources, failed = _frame_sources(args.sources, store, settings)
    started = time.perf_counter()
    ended = 0

    def done(index: int, result: KeyResult) -> None:
        nonlocal failed, ended
        ended += 1
        source = sources[index]
        if result.failed is not None:
            failed += 1
            print(f"error: {source}: {result.failed.error.get('cause', 'failed')}", file=sys.stderr, flush=True)
        if len(sources) > 1 and not args.quiet:
            elapsed = time.perf_counter() - started
            eta = elapsed / ended * (len(sources) - ended)
            print(f"[{ended}/{len(sources)}] {'ok' if result.ok else 'failed':6s} {source} ({result.seconds:.2f} s, "
                  f"eta {eta:.0f} s)", flush=True)

    results = render_files(sources, out, settings, store, args.keep_working, args.jobs or FRAMES_IN_FLIGHT, done)
    if len(sources) > 1 and not args.quiet:
        print(f"{len(sources) - failed} ok, {failed} failed in {time.perf_counter() - started:.1f} s", flush=True)
    for clip in write_sequence_clips(results, store, settings, keep_working=args.keep_working):
        if not clip.ok:
            print(f"error: clip {clip.sequence} ({clip.profile}): {clip.error}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"clip {clip.profile} {clip.clip_s3_key} frames {clip.first_frame}-{clip.last_frame} missing "
              f"{clip.missing_frames} failed {clip.failed_frames} timecode {clip.start_timecode} "
              f"{quality_line(clip)}", flush=True)
        if clip.quality_passed is not None and not clip.quality_passed:  # made, but not as good as its bound
            print(f"error: clip {clip.sequence} ({clip.profile}): {quality_line(clip)}", file=sys.stderr, flush=True)
            failed += 1
    return 1 if failed else 0


def _probe(args: argparse.Namespace) -> int:
    from proxygen_core.colour.engine import engine

    render = load_settings(args.config).render
    failed = 0
    for source in args.sources:
        try:
            record = probe(source)
            decision = engine(render.ocio_config).detect(record, render)
            # The header, plus the colour space the renders would use and the rule that chose it.
            print(json.dumps({**record.to_dict(), "colour": {"source_colorspace": decision.source_colorspace,
                                                              "rule": decision.rule}}, default=str))
        except Exception as exc:
            failed += 1
            print(f"error: {source}: {getattr(exc, 'cause', exc)}", file=sys.stderr)
    return 1 if failed else 0


def _samples(args: argparse.Namespace) -> int:
    from proxygen_core.media.samples import write_sequence

    for path in write_sequence(args.out, frames=args.frames, width=args.width, height=args.height):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxygen", description="Colour-managed review media from VFX frames.")
    parser.add_argument("--version", action="version", version=f"proxygen {__version__}")
    parser.add_argument("--config", help="YAML settings file (default: $PROXYGEN_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    render = sub.add_parser("render", help="render thumbnails and H.264 proxies for local files")
    render.add_argument("sources", nargs="+", metavar="SRC")
    render.add_argument("--out", required=True, help="output folder")
    render.add_argument(
        "--ocio-config", help="OCIO config path or ocio:// name (default pinned studio config; $OCIO honoured)"
    )
    render.add_argument("--display", help="display for both outputs (overrides the per-output defaults)")
    render.add_argument("--thumb-display", help="display for the JPEG thumbnail (default 'sRGB - Display')")
    render.add_argument("--proxy-display", help="display for the MP4 proxy (default 'Rec.1886 Rec.709 - Display')")
    render.add_argument("--view", help="view (default 'ACES 2.0 - SDR 100 nits (Rec.709)')")
    render.add_argument("--source-colorspace", help="force the source colour space instead of detecting it")
    render.add_argument("--preview", action="store_true", help="also write a full-resolution JPEG preview")
    render.add_argument("--keep-working", action="store_true",
                        help="keep each source's scene-linear working EXR under OUT/.proxygen/ (default: not kept)")
    render.add_argument("-j", "--jobs", type=positive_int, default=None,
                        help="sources rendered at once (default 2: keeps the cores busy; 1 holds the least memory)")
    render.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    render.set_defaults(func=_render)

    pr = sub.add_parser("probe", help="print the header record of files as JSON lines")
    pr.add_argument("sources", nargs="+", metavar="SRC")
    pr.set_defaults(func=_probe)

    samples = sub.add_parser("samples", help="write the synthetic demo sequence (ACEScg EXR)")
    samples.add_argument("--out", required=True)
    samples.add_argument("--frames", type=int, default=12)
    samples.add_argument("--width", type=int, default=2048)
    samples.add_argument("--height", type=int, default=1080)
    samples.set_defaults(func=_samples)
    add_commands(sub)
    add_identity_command(sub)
    add_cuts_command(sub)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Like parse_args, but a wrong flag is reported with the subcommand's usage, not the top-level one."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    args = parse(parser or build_parser(), argv)
    try:
        return int(args.func(args))
    except ValueError as exc:  # configuration problems: one clear line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
