"""``proxygen identity``: what keys parse to under the configured key templates, and the re-derive of the catalog.

Why a command: a layout is tested before deploying (``proxygen identity shows/demo/.../x.1001.exr`` prints the
fields, the template that matched and any problem; exit 1 when a key is flagged or matches nothing), and a
changed template is applied to the rows already written (``--rederive``) so a catalog never mixes two readings.
The settings are found as the listing commands find them (report.py: --config, $PROXYGEN_CONFIG, the local stack).
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any

from proxygen_core.settings import load_settings
from proxygen_core.store.identity import KeyLayout, identify


def describe(key: str, layout: KeyLayout) -> dict[str, Any]:
    """One key's reading: its identity columns, the template that matched, the problem, and why there is none."""
    shot = identify(key, layout)
    reason = None
    if shot.template is None:
        reason = (f"outside the key root {layout.root!r} (PROXYGEN_KEY_ROOT)" if layout.outside(key)
                  else f"no key template matches the key after the root {layout.root!r} "
                       f"(tried {len(layout.templates)}: PROXYGEN_KEY_TEMPLATES)")
    return {"key": key, **shot.columns(), "template": shot.template, "problem": shot.problem,
            "ok": shot.template is not None and not shot.flagged, "reason": reason}


def _lines(found: dict[str, Any]) -> list[str]:
    fields = "  ".join(f"{name} {found[name] if found[name] is not None else '-'}"
                       for name in ("show", "seq", "shot", "task", "version"))
    out = [found["key"], f"  {fields}"]
    if found["template"] is not None:
        out.append(f"  template {found['template']}")
    if found["problem"]:
        out.append(f"  FLAGGED: {found['problem']}")
    if found["reason"]:
        out.append(f"  NO IDENTITY: {found['reason']}")
    return out


def identity(args: argparse.Namespace) -> int:
    from proxygen_core.report import _config

    settings = load_settings(_config(args)[0])
    layout = settings.pipeline.key_layout()
    if args.rederive:
        if args.keys:
            raise ValueError("--rederive re-reads every catalog row: give no keys with it")
        return _rederive(args, settings.events.event_topic, layout)
    if not args.keys:
        raise ValueError("give one or more keys (or --rederive)")
    # a file that exists here is read as `proxygen render` reads it: by its absolute path (the local rule)
    found = [describe(os.path.abspath(key) if os.path.isfile(key) else key, layout) for key in args.keys]
    if args.json:
        print(json.dumps(found, indent=1))
    else:
        for one in found:
            print("\n".join(_lines(one)))
    return 0 if all(one["ok"] for one in found) else 1


def _rederive(args: argparse.Namespace, topic: str, layout: KeyLayout) -> int:
    from proxygen_core.pipeline.rederive import rederive
    from proxygen_core.report import _catalog

    catalog = _catalog(args)
    done = rederive(catalog, layout, topic)
    summary = {"changed_rows": done.changed_rows, "rows": done.examined_rows, "changed_clips": done.changed_clips,
               "clips": done.examined_clips, "flagged": done.flagged, "pending_events": catalog.count("pending")}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"identity re-derived under {len(layout.templates)} key template(s), root {layout.root!r}: "
              f"{done.changed_rows} of {done.examined_rows} frame rows and {done.changed_clips} of "
              f"{done.examined_clips} clips changed ({done.flagged} of them flagged); the old frame row versions "
              f"are kept (proxygen records --history); {summary['pending_events']} events wait in the outbox")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    ident = sub.add_parser("identity", help="what keys parse to under the key templates (show, seq, shot, task, "
                                            "version); --rederive applies them to the catalog's rows")
    ident.add_argument("keys", nargs="*", metavar="KEY",
                       help="bucket keys, or local files (read by their absolute path)")
    ident.add_argument("--json", action="store_true", help="one JSON list (or, with --rederive, one object)")
    ident.add_argument("--rederive", action="store_true",
                       help="re-read the identity of every current frame and clip row under the current templates; "
                            "a changed row gets a new version (the old one stays in the history) and an event")
    ident.set_defaults(func=identity)
