"""``proxygen cuts [--json]``: the cut rows (proxy_cuts), newest first; with --json one list of row objects whose
JSON columns (events, versions, missing events, warnings) are lists and objects, not text."""
from __future__ import annotations

import argparse
import json

CUT_COLUMNS = ("generated_timestamp", "status", "cut_key", "event_count", "matched_events", "versions",
               "missing_events", "frame_count", "start_timecode", "error")


def cuts(args: argparse.Namespace) -> int:
    from proxygen_core.report import _catalog, _cell, table

    catalog = _catalog(args)
    rows = []
    for cut in catalog.cuts(args.limit):
        rows.append({**cut.record(), "events": cut.event_list, "versions": cut.version_map,
                     "missing_events": json.loads(cut.missing_events or "[]"),
                     "warnings": json.loads(cut.warnings or "[]")})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for line in table(CUT_COLUMNS, [[_cell(row.get(c)) for c in CUT_COLUMNS] for row in rows]):
        print(line)
    return 0


def add_cuts_command(sub: argparse._SubParsersAction) -> None:
    cu = sub.add_parser("cuts", help="list the conformed editorial cuts (proxy_cuts; docs/editorial.md)")
    cu.add_argument("--limit", type=int, default=20)
    cu.add_argument("--json", action="store_true", help="one JSON list of cut objects")
    cu.set_defaults(func=cuts)
