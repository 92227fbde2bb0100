"""The ``proxygen`` command: the core's commands plus the ones that need the pipeline."""
from __future__ import annotations

import argparse
import sys

from proxygen_core.cli import build_parser as core_parser
from proxygen_core.cli import main as core_main


def _local(args: argparse.Namespace) -> int:
    from proxygen_dagster.launch.local import run_local

    return run_local(args.var, once=args.once, frames=args.frames, port=args.port, s3_port=args.s3_port,
                     bucket=args.bucket, samples=not args.no_samples, kafka_port=args.kafka_port,
                     s3_endpoint=args.s3_endpoint, kafka_bootstrap=args.kafka_bootstrap)


def _partitions(args: argparse.Namespace) -> int:
    """``proxygen partitions count|retire|restore``: the live frame partitions of the Dagster instance at
    $DAGSTER_HOME (docs/operations.md, "Retired partitions")."""
    from dagster import DagsterInstance

    from proxygen_core.catalog import open_catalog
    from proxygen_core.settings import load_settings
    from proxygen_dagster.housekeeping.retention import RetentionReport, restore_partitions, retire_partitions
    from proxygen_dagster.names import PARTITION

    instance = DagsterInstance.get()
    if args.action == "restore":
        if not args.keys:
            print("error: restore needs the keys to bring back", file=sys.stderr)
            return 2
        added = restore_partitions(instance, args.keys)
        print(f"restored {len(added)} frame partition(s); {len(args.keys) - len(added)} were live. Re-process "
              "them from the UI (select the partitions, Materialize) or by re-uploading the objects.")
        return 0
    if args.action == "retire":
        settings = load_settings(args.config)
        report = RetentionReport()
        rules = settings.retention
        retire_partitions(instance, open_catalog(settings.catalog), rules.live_frame_partitions,
                          rules.retire_per_pass, report)
        print(f"retired {report.partitions_retired} frame partition(s) (keeping the newest "
              f"{rules.live_frame_partitions})")
        return 0
    print(len(instance.get_dynamic_partitions(PARTITION.frames)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = core_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    local = sub.add_parser("local", help="run the main job locally: SeaweedFS + Dagster UI + daemon (Ctrl-C stops)")
    local.add_argument("--var", default="var", help="folder for service data, Dagster home, samples and cache")
    local.add_argument("--once", action="store_true", help="headless: process what is in the bucket once and exit")
    local.add_argument("--frames", type=int, default=12, help="sample frames to generate and upload")
    local.add_argument("--no-samples", action="store_true", help="do not upload the sample sequence")
    local.add_argument("--port", type=int, default=3000, help="Dagster UI port (127.0.0.1)")
    local.add_argument("--s3-port", type=int, default=8333, help="SeaweedFS S3 port (127.0.0.1)")
    local.add_argument("--kafka-port", type=int, default=9092, help="Tansu Kafka port (127.0.0.1)")
    local.add_argument("--bucket", default="frames")
    local.add_argument("--s3-endpoint", help="use this existing S3 endpoint (credentials from AWS_ACCESS_KEY_ID / "
                                             "AWS_SECRET_ACCESS_KEY) instead of starting SeaweedFS")
    local.add_argument("--kafka-bootstrap", help="use this existing Kafka (host:port) instead of starting Tansu")
    local.set_defaults(func=_local)
    parts = sub.add_parser("partitions", help="the Dagster instance's frame partitions: count, retire the oldest "
                                              "now, or restore retired keys")
    parts.add_argument("action", choices=("count", "retire", "restore"))
    parts.add_argument("keys", nargs="*", help="with restore: the S3 keys to make partitions again")
    parts.set_defaults(func=_partitions)
    return parser


def main(argv: list[str] | None = None) -> int:
    return core_main(argv, parser=build_parser())


if __name__ == "__main__":
    sys.exit(main())
