"""Work around a 7x OCIO slowdown caused by dirty upper AVX register state.

Some decoders bundled in the OpenImageIO wheel (seen with ZIP-compressed EXRs) leave the upper
halves of the YMM registers dirty (no VZEROUPPER). OpenColorIO's SSE code then pays an AVX/SSE
transition penalty on every instruction: measured here, the ACES 2.0 output transform on a 1920x1012
frame went from 0.78 s to 5.9 s after one EXR read, in that thread and in threads created after it.
Executing VZEROUPPER in the thread before OCIO runs restores full speed. There is no Python way to
issue it, so a 4-byte function (``vzeroupper; ret``) is placed in an executable page via ctypes.
"""
from __future__ import annotations

import ctypes
import mmap
import platform

_CODE = b"\xc5\xf8\x77\xc3"  # vzeroupper ; ret


def _has_avx() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open("/proc/cpuinfo") as fh:
            return any(line.startswith("flags") and " avx" in line for line in fh)
    except OSError:
        return False


def _build():
    if not _has_avx():
        return lambda: None
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError, AttributeError):  # W^X systems: run without the workaround
        return lambda: None
    page.write(_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    fn = ctypes.CFUNCTYPE(None)(address)
    # keep the mapping alive as long as the function; ctypes function objects take attributes at run time,
    # but typeshed declares none beyond ctypes' own, hence the ignore
    fn._page = page  # type: ignore[attr-defined]
    return fn


clear_upper_state = _build()
