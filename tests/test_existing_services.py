"""Services started by hand (not by `proxygen local`), the code location in its production environment
pointed at them, frames processed end to end: what a team with its own S3 and Kafka runs."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from proxygen_core.catalog import SQLiteCatalog
from proxygen_core.store.s3 import ObjectStore

from .conftest import S3_ACCESS, S3_SECRET
from .kafka_helpers import consume_events
from .test_dagster_pipeline import _upload


def test_production_settings_against_services_started_by_hand(seaweedfs, tansu, bucket_store, tmp_path):
    endpoint = f"http://127.0.0.1:{seaweedfs.ports['s3.port']}"
    bootstrap = f"127.0.0.1:{tansu.ports['kafka']}"
    bucket = f"studio-{uuid.uuid4().hex[:6]}"
    store = ObjectStore(bucket_store.client, bucket)
    store.ensure_bucket()
    keys = _upload(store, tmp_path, "show/sh020", ["plate.1001.exr", "plate.1002.exr"])
    topic = f"studio-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PROXYGEN_ENV": "production", "AWS_ACCESS_KEY_ID": S3_ACCESS,
           "AWS_SECRET_ACCESS_KEY": S3_SECRET, "PROXYGEN_EVENT_TOPIC": topic,
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for name in ("PROXYGEN_S3_ENDPOINT_URL", "PROXYGEN_S3_BUCKET", "PROXYGEN_SQLITE_PATH", "PROXYGEN_CACHE_DIR",
                 "PROXYGEN_BATCH_SETTLE_SECONDS"):  # the user's defaults: --once must not wait on a held burst
        env.pop(name, None)
    exe = Path(sys.executable).with_name("proxygen")
    proc = subprocess.run([str(exe), "local", "--once", "--var", str(tmp_path / "var"), "--no-samples",
                           "--bucket", bucket, "--s3-endpoint", endpoint, "--kafka-bootstrap", bootstrap],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"using S3 at {endpoint}" in proc.stdout and f"using Kafka at {bootstrap}" in proc.stdout
    assert S3_SECRET not in proc.stdout + proc.stderr  # a real secret is never printed
    assert " - DEBUG - " not in proc.stdout + proc.stderr  # no debug line per materialization
    assert not (tmp_path / "var" / "seaweedfs").exists() and not (tmp_path / "var" / "tansu").exists()
    rows = SQLiteCatalog(tmp_path / "var" / "catalog.db").rows()
    assert sorted(r.s3_key for r in rows) == sorted(keys) and {r.status for r in rows} == {"ok"}
    assert store.exists("show/sh020/.proxies/plate.1001_proxy.mp4")
    events = consume_events(bootstrap, topic)
    frames = [e["body"] for e in events if e["body"]["type"].startswith("proxy.")]
    clips = [e["body"] for e in events if e["body"]["type"].startswith("clip.")]
    assert sorted(b["source_uri"] for b in frames) == sorted(f"s3://{bucket}/{k}" for k in keys)
    # --once also builds the clip of the sequence the two frames form
    assert [(c["type"], c["sequence_uri"]) for c in clips] == [("clip.generated", f"s3://{bucket}/show/sh020/plate.####.exr")]
