"""Only the S3 port, with credentials, serves data: SeaweedFS's filer, volume and master ports answer no read,
write or delete without a token, and S3 none without a signature. Tried against the suite's real server."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid


def _call(method: str, url: str, data: bytes | None = None) -> int | str:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:  # refused: nobody listens there
        return type(exc).__name__


def test_no_port_serves_data_without_credentials(seaweedfs, bucket_store):
    key = f"lockdown/{uuid.uuid4().hex[:6]}/plate.0001.exr"
    bucket_store.put_bytes(key, b"secret frame bytes")
    ports, bucket = seaweedfs.ports, bucket_store.bucket
    filer = f"http://127.0.0.1:{ports['filer.port']}/buckets/{bucket}/{key}"
    assert _call("GET", filer) == 401
    assert _call("PUT", filer.replace("plate.0001", "planted"), b"x") == 401
    assert _call("POST", filer.replace("plate.0001", "planted"), b"x") == 401
    assert _call("DELETE", filer) == 401
    # The master hands out file ids, but the volume server takes no write for them without a token ...
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['master.port']}/dir/assign", timeout=10) as resp:
        assigned = json.loads(resp.read())
    volume = f"http://{assigned['url']}/{assigned['fid']}"
    assert "auth" not in assigned and _call("PUT", volume, b"x") == 401 and _call("POST", volume, b"x") == 401
    # ... and serves or deletes nothing without one (the object's own volume: the ids it holds).
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['master.port']}/vol/status", timeout=10) as resp:
        status = json.loads(resp.read())
    volume_ids = {v["Id"] for dc in status["Volumes"]["DataCenters"].values() for rack in dc.values()
                  for node in rack.values() for v in (node or [])}
    assert volume_ids
    for vid in sorted(volume_ids)[:3]:
        assert _call("GET", f"http://127.0.0.1:{ports['volume.port']}/{vid},0100000001") == 401
        assert _call("DELETE", f"http://127.0.0.1:{ports['volume.port']}/{vid},0100000001") == 401
    # S3 without a signature: refused; with the credentials: the bytes, unchanged.
    s3 = f"http://127.0.0.1:{ports['s3.port']}/{bucket}/{key}"
    assert _call("GET", s3) == 403 and _call("PUT", s3, b"x") == 403 and _call("DELETE", s3) == 403
    assert bucket_store.get_bytes(key) == b"secret frame bytes"
