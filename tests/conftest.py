from __future__ import annotations

import csv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"


def manifest() -> list[dict[str, str]]:
    path = TESTDATA / "MANIFEST.tsv"
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def is_broken(row: dict[str, str]) -> bool:
    """Files the manifest records as damaged (fail to open, fail to decode, or truncated)."""
    return "NASTY" in row["note"]


def manifest_cases(broken: bool) -> list:
    rows = manifest()
    if not rows:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"third-party test images not found at {TESTDATA}"))]
    return [pytest.param(r, id=r["relpath"]) for r in rows if is_broken(r) == broken]


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not (TESTDATA / "MANIFEST.tsv").exists():
        pytest.skip(f"third-party test images not found at {TESTDATA}")
    return TESTDATA
