"""One line naming the machine and the library versions a benchmark ran with (figures are only comparable
between runs with the same line)."""
from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path


def describe() -> str:
    import numpy
    import OpenImageIO
    import PyOpenColorIO

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem_kib = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal:")), 0)
    return (f"{datetime.datetime.now().isoformat(timespec='minutes')} {platform.machine()} {cpu}, "
            f"{os.cpu_count()} cores, {mem_kib / 2**20:.0f} GiB; Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, OpenImageIO {OpenImageIO.__version__}, "
            f"OpenColorIO {PyOpenColorIO.__version__}")
