"""Edits of an MP4/MOV file's sample descriptions after libavformat wrote it, where PyAV cannot reach.

libavformat's mov muxer writes vendor ``FFMP`` into every MOV video sample description (hard-coded), and
``mdcv`` / ``clli`` only from a stream's coded side data, which PyAV cannot set. ``edit_sample_entries``
rewrites the ``moov`` box in place: the chosen sample entries get a vendor and/or extra child boxes, every
enclosing box's size grows, and when ``moov`` comes before ``mdat`` (faststart) every chunk offset (``stco``
/ ``co64``) moves by the bytes added. The media data is copied unchanged; ``moov`` stays where it was.
"""
from __future__ import annotations

import os
import struct

from proxygen_core.errors import EncodeError

PRORES_ENTRIES = {b"apco", b"apcs", b"apcn", b"apch", b"ap4h", b"ap4x"}  # ProRes sample entry types (fourccs)
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_VENDOR = 20  # a video sample entry: size, type (8), reserved (6), data reference (2), version, revision (4)


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes in data[start:end]."""
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        elif size == 0:
            size = end - pos
        if size < 8 or pos + size > end:
            raise ValueError(f"box {kind!r} at {pos} has size {size} past {end}")
        out.append((kind, pos, size))
        pos += size
    return out


def _rebuilt(data: bytes, offset: int, size: int, entries: set[bytes], extra: bytes, vendor: bytes | None,
             shift: int) -> bytes:
    """The box at ``offset`` with ``extra`` appended to the sample entries of a type in ``entries`` (and their
    vendor set), every ancestor's size grown, and every chunk offset moved by ``shift``."""
    kind = data[offset + 4:offset + 8]
    header = 16 if struct.unpack(">I", data[offset:offset + 4])[0] == 1 else 8
    body_start, end = offset + header, offset + size
    if kind in _CONTAINERS:
        body = b"".join(_rebuilt(data, o, s, entries, extra, vendor, shift)
                        for _, o, s in _boxes(data, body_start, end))
    elif kind == b"stsd":
        parts = [data[body_start:body_start + 8]]
        for child, o, s in _boxes(data, body_start + 8, end):
            box = data[o:o + s]
            if child in entries:
                if vendor is not None:
                    box = box[:_VENDOR] + vendor + box[_VENDOR + 4:]
                box = struct.pack(">I", len(box) + len(extra)) + box[4:] + extra
            parts.append(box)
        body = b"".join(parts)
    elif kind in (b"stco", b"co64") and shift:
        count = struct.unpack(">I", data[body_start + 4:body_start + 8])[0]
        fmt = f">{count}{'I' if kind == b'stco' else 'Q'}"
        width = 4 if kind == b"stco" else 8
        offsets = struct.unpack(fmt, data[body_start + 8:body_start + 8 + count * width])
        if kind == b"stco" and max(offsets, default=0) + shift > 0xFFFFFFFF:
            raise ValueError("chunk offsets past 4 GiB after the boxes: stco cannot hold them")
        body = data[body_start:body_start + 8] + struct.pack(fmt, *(o + shift for o in offsets))
        body += data[body_start + 8 + count * width:end]
    else:
        return data[offset:end]
    if header == 16:
        return struct.pack(">I4sQ", 1, kind, len(body) + 16) + body
    return struct.pack(">I4s", len(body) + 8, kind) + body


def edit_sample_entries(path: str | os.PathLike[str], entries: set[bytes], extra: bytes = b"",
                        vendor: bytes | None = None) -> None:
    """Append ``extra`` (whole boxes) to, and set ``vendor`` (4 bytes) in, every sample entry of a type in
    ``entries``, in place (module docstring). A file with no such entry is an error naming it."""
    path = str(path)
    try:
        if vendor is not None and len(vendor) != 4:
            raise ValueError(f"vendor {vendor!r} is not 4 bytes")
        with open(path, "rb") as fh:
            data = fh.read()
        top = _boxes(data, 0, len(data))
        kinds = [k for k, _, _ in top]
        if b"moov" not in kinds:
            raise ValueError("no moov box")
        _, moov_at, moov_size = top[kinds.index(b"moov")]
        if _rebuilt(data, moov_at, moov_size, set(), b"", None, 0) != data[moov_at:moov_at + moov_size]:
            raise ValueError("moov does not rebuild to itself")
        moov_first = b"mdat" in kinds and moov_at < top[kinds.index(b"mdat")][1]
        moov = _rebuilt(data, moov_at, moov_size, entries, extra, vendor, len(extra) if moov_first else 0)
        if moov == data[moov_at:moov_at + moov_size] and (extra or vendor):
            if not _has_entry(data, moov_at, moov_size, entries):
                raise ValueError(f"no {'/'.join(sorted(e.decode() for e in entries))} sample entry")
        tmp = path + ".boxes"
        with open(tmp, "wb") as fh:
            fh.write(data[:moov_at] + moov + data[moov_at + moov_size:])
        os.replace(tmp, path)
    except (OSError, ValueError, struct.error) as exc:
        raise EncodeError(path, f"editing the sample description failed: {exc}") from exc


def _has_entry(data: bytes, offset: int, size: int, entries: set[bytes]) -> bool:
    return _rebuilt(data, offset, size, entries, b"\0" * 8, None, 0) != data[offset:offset + size]
