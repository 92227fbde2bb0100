"""``proxygen records`` and ``proxygen events``: what is in the catalog and its outbox."""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from proxygen_core.profiles import PRIMARY
from proxygen_core.settings import config_home, environ, load_settings

LOCAL_POINTER = "local.yaml"  # the account's pointer: a copy of the stack file of the last `proxygen local` started
STACK_FILE = "proxygen-stack.yaml"  # in a local stack's var folder: that stack's own pointer
SETTINGS_FILE = "proxygen-settings.yaml"  # beside it: the settings its listing commands read (catalog, bucket)


def local_pointer() -> Path:
    return config_home() / LOCAL_POINTER


@dataclass(frozen=True)
class LocalStack:
    """One `proxygen local`: its var folder, ports and settings file, as its stack file names them.

    Why a file in the stack's own folder: the account-wide pointer is one file per user, so a second stack (or a
    ``--once`` trial) would silently redirect the first one's listings. A listing command run inside a checkout
    finds that checkout's stack by walking up from the current folder; only outside any stack does it fall back
    to the account's pointer, and it always says which stack it read.
    """

    var: Path
    settings: Path
    ports: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> LocalStack:
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
        if "var" not in data:  # a pointer written before stack files: the settings themselves
            return cls(path.parent, path, {})
        return cls(Path(data["var"]), Path(data["settings"]), {k: int(v) for k, v in (data.get("ports") or {}).items()})

    def describe(self) -> str:
        ports = ", ".join(f"{name} :{port}" for name, port in self.ports.items())
        return f"the local stack in {self.var}" + (f" ({ports})" if ports else "")


def find_stack(start: Path) -> Path | None:
    """The stack file of the local stack this folder belongs to: ``<dir>/var/`` or ``<dir>/`` up the tree.

    Only a file of this user's that nobody else may write counts: a stack file planted higher up (``/tmp/var``)
    by another user must not redirect this user's listings or ``dailies`` writes."""
    for folder in (start, *start.parents):
        for candidate in (folder / STACK_FILE, folder / "var" / STACK_FILE):
            if candidate.is_file() and _own_and_private(candidate):
                return candidate
    return None


def _own_and_private(path: Path) -> bool:
    info = path.stat()
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _config(args: argparse.Namespace) -> tuple[str | None, str]:
    """Which settings a listing command reads, and why: --config, $PROXYGEN_CONFIG, the environment, the local
    stack of the folder it runs in, else the last local stack started (the account's pointer)."""
    config, why = args.config, "--config"
    if not config and environ("PROXYGEN_CONFIG"):
        why = "$PROXYGEN_CONFIG"
    elif not config and environ("PROXYGEN_SQLITE_PATH"):
        why = "$PROXYGEN_SQLITE_PATH"
    elif not config and (here := find_stack(Path.cwd())) is not None:
        stack = LocalStack.read(here)
        config, why = str(stack.settings), f"{stack.describe()}, which this folder is in"
    elif not config and local_pointer().exists():
        stack = LocalStack.read(local_pointer())
        config, why = str(stack.settings), f"{stack.describe()}, the last one started ({local_pointer()})"
    elif not config:
        why = "the defaults"
    return config, why


def _catalog(args: argparse.Namespace):
    """The catalog a user means: --config / $PROXYGEN_CONFIG / $PROXYGEN_SQLITE_PATH, else the last local
    run's (from its pointer file). A missing SQLite file is an error, never created in the current folder.
    Says which catalog it read, and why that one, on stderr (stdout stays the listing, or JSON)."""
    import sys

    config, why = _config(args)
    settings = load_settings(config).catalog
    if settings.catalog_backend == "sqlite":
        where = f"sqlite {Path(settings.sqlite_path).resolve()}"
        if not Path(settings.sqlite_path).exists():
            raise ValueError(f"no catalog at {Path(settings.sqlite_path).resolve()} (from {why}): start `proxygen "
                             "local`, or point at one with PROXYGEN_SQLITE_PATH or --config")
    elif settings.catalog_backend == "postgres":
        where = "postgres " + dsn_place(settings.postgres_dsn or "")
    else:
        where = f"vast {settings.vast_db_endpoint} {settings.vast_db_bucket}/{settings.vast_db_schema}"
    print(f"catalog: {where} (from {why})", file=sys.stderr, flush=True)
    from proxygen_core.catalog import open_catalog  # pyarrow: loaded by the commands that read a catalog only

    return open_catalog(settings)


def dsn_place(dsn: str) -> str:
    """Host, port and database of a PostgreSQL DSN (URL or libpq key=value), never its user or password."""
    import re
    from urllib.parse import urlsplit

    if "://" in dsn:
        url = urlsplit(dsn)
        return f"{url.hostname or ''}{f':{url.port}' if url.port else ''}{url.path or ''}"
    fields = dict(re.findall(r"(\w+)\s*=\s*('[^']*'|\S+)", dsn))
    return f"{fields.get('host', '')}{':' + fields['port'] if 'port' in fields else ''}/{fields.get('dbname', '')}"


def _shown(listed: int, total: int, what: str) -> str:
    return f"{listed} {what}" if listed >= total else f"{listed} of {total} {what} shown (--limit N for more)"


def table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    """The lines of a listing: a header of the column names, then one line per row, each column as wide as
    its widest cell (the last one unpadded: errors and URIs run long). No rows: no lines."""
    if not rows:
        return []
    widths = [max(len(cells[i]) for cells in (list(columns), *rows)) for i in range(len(columns) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(cells, widths, strict=False)), cells[-1]]).rstrip()
            for cells in (list(columns), *rows)]


def _cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


RECORD_COLUMNS = ("generated_timestamp", "status", "s3_key", "proxy_resolution", "source_colorspace", "error")


def records(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    rows = catalog.history(args.limit) if args.history else catalog.rows(args.limit, args.status)
    if args.json:
        print(json.dumps([r.record() for r in rows], indent=1))
        return 0
    for line in table(RECORD_COLUMNS, [[_cell(getattr(row, c) or None) for c in RECORD_COLUMNS] for row in rows]):
        print(line)
    total = catalog.count("history") if args.history else catalog.count("rows", args.status)
    print(_shown(len(rows), total, "history rows" if args.history else "rows"))
    return 0


EVENT_COLUMNS = ("created_at", "delivery", "type", "profile", "event_id", "subject")


def _event_cells(ev) -> list[str]:
    """One event's cells: a clip event names its sequence and clip profile (the events of one sequence differ
    by it alone), a frame event its source (no profile: "-")."""
    body = ev.body
    clip = "sequence_uri" in body
    return [ev.created_at, f"sent {ev.sent_at}" if ev.sent_at else "PENDING", body["type"],
            (body.get("profile") or PRIMARY) if clip else "-", ev.event_id,
            _cell(body.get("sequence_uri") if clip else body.get("source_uri"))]


def events(args: argparse.Namespace) -> int:
    catalog = _catalog(args)
    listed = catalog.pending_events(args.limit) if args.pending else catalog.events(args.limit)
    if args.json:  # the event bodies as published, plus their delivery state
        print(json.dumps([{**ev.body, "created_at": ev.created_at, "sent_at": ev.sent_at, "attempts": ev.attempts}
                          for ev in listed], indent=1))
        return 0
    for line in table(EVENT_COLUMNS, [_event_cells(ev) for ev in listed]):
        print(line)
    print(f"{_shown(len(listed), catalog.count('pending' if args.pending else 'events'), 'events')}; "
          f"{catalog.count('pending')} pending in the outbox")
    return 0


CLIP_COLUMNS = ("generated_timestamp", "status", "profile", "sequence", "first_frame", "last_frame", "frame_count",
                "start_timecode", "missing_frames", "failed_frames", "quality_metric", "quality_de_mean",
                "quality_psnr_db", "quality_passed", "error", "tracker")


def clips(args: argparse.Namespace) -> int:
    from proxygen_core.trackers.outbox import state_line

    catalog = _catalog(args)
    if args.publish:
        return _publish(args, catalog)
    rows = []
    for clip in catalog.clips(args.limit):  # the frame lists are JSON in the table; lists here
        row = {**clip.record(), "missing_frames": clip.missing, "failed_frames": clip.failed,
               "profile": clip.profile or PRIMARY,  # rows written before clip profiles existed
               "tracker": state_line(clip)}
        if clip.quality_passed is not None:  # SQLite keeps booleans as 0/1
            row["quality_passed"] = bool(clip.quality_passed)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for line in table(CLIP_COLUMNS, [[_cell(row.get(c)) for c in CLIP_COLUMNS] for row in rows]):
        print(line)
    print(_shown(len(rows), catalog.count("clips"), "clips"))
    return 0


def _publish(args: argparse.Namespace, catalog) -> int:
    """Publish the clips waiting for the tracker now (the local door's drain; the Dagster sensor does it on a
    deployment), or re-publish the named clips whatever their state. One JSON line per attempt; exit 1 when
    any failed or is still pending."""
    from dataclasses import asdict

    from proxygen_core.store.s3 import ObjectStore, s3_client
    from proxygen_core.trackers.outbox import PUBLISHED, publish_clip, publish_due

    settings = load_settings(_config(args)[0])
    if not settings.trackers.enabled:
        raise ValueError("no tracker configured: set PROXYGEN_TRACKER (docs/trackers.md)")
    storage = settings.storage
    store = ObjectStore(s3_client(storage.s3_endpoint_url, storage.s3_region), storage.s3_bucket, storage.cache_dir)
    if args.clip:
        outcomes = []
        for clip_id in args.clip:
            row = catalog.clip(clip_id)
            if row is None:
                raise ValueError(f"no clip {clip_id!r} in the catalog (`proxygen clips --json` lists their ids)")
            outcomes.append(publish_clip(catalog, store, settings, row, force=True))
    else:
        outcomes = publish_due(catalog, store, settings, limit=args.limit)
    for outcome in outcomes:
        print(json.dumps(asdict(outcome)), flush=True)
    return int(any(o.status != PUBLISHED for o in outcomes))


def dailies(args: argparse.Namespace) -> int:
    """A day's playlist movie, OpenTimelineIO timeline and HTML page, from the catalog's clips and the bucket."""
    import sys
    from datetime import date, datetime

    from proxygen_core.pipeline.dailies import build_daily
    from proxygen_core.store.s3 import ObjectStore, s3_client

    catalog = _catalog(args)
    settings = load_settings(_config(args)[0])
    storage = settings.storage
    store = ObjectStore(s3_client(storage.s3_endpoint_url, storage.s3_region), storage.s3_bucket, storage.cache_dir)
    day = date.fromisoformat(args.day) if args.day else datetime.now(UTC).date()
    daily = build_daily(store, catalog, day, settings, args.show, args.out)
    if daily.empty:
        print(f"no review clip finished on {day.isoformat()}" + (f" for show {args.show}" if args.show else ""),
              file=sys.stderr)
        return 1
    print(json.dumps({"day": daily.day, "show": daily.show, "shots": [r.shot or r.sequence
                                                                      for r in daily.shots],
                      "pictures": daily.frames, **daily.keys}, indent=1))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser("records", help="list recent catalog rows (proxy_outputs)")
    rec.add_argument("--limit", type=int, default=20)
    rec.add_argument("--status", choices=["ok", "failed", "skipped"],
                     help="only rows of this status (skipped: objects that are not frame sources, and why)")
    rec.add_argument("--history", action="store_true", help="earlier versions of rows (replaced by re-processing)")
    rec.add_argument("--json", action="store_true", help="one JSON list of row objects")
    rec.set_defaults(func=records)
    ev = sub.add_parser("events", help="list events in the outbox (sent and pending)")
    ev.add_argument("--limit", type=int, default=20)
    ev.add_argument("--pending", action="store_true", help="only events not yet acknowledged by Kafka")
    ev.add_argument("--json", action="store_true", help="one JSON list of event objects")
    ev.set_defaults(func=events)
    cl = sub.add_parser(
        "clips", help="list the clips and deliverables of image sequences (proxy_clips), one row per profile"
    )
    cl.add_argument("--limit", type=int, default=20)
    cl.add_argument("--json", action="store_true", help="one JSON list of clip objects")
    cl.add_argument("--publish", action="store_true",
                    help="publish the clips waiting for the tracker now (PROXYGEN_TRACKER; docs/trackers.md)")
    cl.add_argument("--clip", action="append", metavar="CLIP_ID",
                    help="with --publish: re-publish this clip whatever its tracker state (repeatable)")
    cl.set_defaults(func=clips)
    da = sub.add_parser("dailies", help="a day's review: playlist movie, OpenTimelineIO timeline and HTML page")
    da.add_argument("--day", help="YYYY-MM-DD (UTC; default today)")
    da.add_argument("--show", help="only this show's clips")
    da.add_argument("--out", help="write here, with the posters and review clips (default: into the bucket, "
                                  ".proxies/dailies/<day>/)")
    da.set_defaults(func=dailies)
