"""A real `proxygen local` for the tests that drive the whole stack (its daemon, sensors, launcher, storage)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LocalStack:
    proc: subprocess.Popen
    var: Path
    log_path: Path
    ports: dict[str, int]

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def home(self) -> str:
        return str(self.var / "dagster")

    def store(self):
        """The stack's bucket, with the credentials its banner prints."""
        from proxygen_core.store.s3 import ObjectStore, s3_client

        endpoint, bucket, access, secret = re.search(r"SeaweedFS S3 on (\S+)\s+bucket (\S+)\s+AWS_ACCESS_KEY_ID=(\S+)"
                                                     r"\s+AWS_SECRET_ACCESS_KEY=(\S+)", self.log).groups()
        return ObjectStore(s3_client(endpoint, access_key_id=access, secret_access_key=secret), bucket)

    def stop(self) -> None:
        """As Ctrl-C would, with time to stop its own stack; then whatever is left of its group."""
        from proxygen_core.services.process import stop_process

        stop_process(self.proc, grace=60)


def start_local(tmp_path: Path, env: dict[str, str] | None = None, ports: dict[str, int] | None = None,
                timeout: float = 180.0) -> LocalStack:
    """`proxygen local --no-samples` on free ports (or ``ports``: ui, s3, kafka) with its own var folder and
    pointer, settings only from ``env`` (none inherited), once its banner says the UI is up."""
    from proxygen_core.services.process import free_port

    ports = ports or {"ui": free_port(), "s3": free_port(), "kafka": free_port()}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PROXYGEN_")}
    # the whole-stack tests' own defaults, which a test's ``env`` may override
    clean.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "PROXYGEN_BATCH_SETTLE_SECONDS": "1",
                  "PROXYGEN_FOLLOWUP_SENSOR_INTERVAL_SECONDS": "5", **(env or {})})
    var, log_path = tmp_path / "var", tmp_path / "local.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("proxygen")), "local", "--var", str(var),
                                 "--no-samples", "--port", str(ports["ui"]), "--s3-port", str(ports["s3"]),
                                 "--kafka-port", str(ports["kafka"])], env=clean, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    stack = LocalStack(proc, var, log_path, ports)
    deadline = time.monotonic() + timeout
    try:
        while b"Dagster UI:" not in log_path.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, stack.log[-3000:]
            time.sleep(0.2)
    except BaseException:
        stack.stop()
        raise
    return stack
