"""Which cuts use a shot: the marker a cut's build leaves per shot, and the working-frame rule that reads it.

Why a file per shot: a sequence's clips are planned without reading every cut of its show (there is no listing
on that path), yet with ``until_clips`` retention the clip build must know whether a cut will want the shot's
working frames. So each build of a cut writes, for every shot it matched,
``<editorial prefix><show>/.proxies/uses/<shot>.json`` = ``{"cuts": {"<cut uri>": <version built>}, "pinned":
[<cut uris whose version of the shot is pinned>]}`` (version 0: the cut matched the shot but had no version of
it). One rule here for both sides: the cut's build (editorial/uses.py) writes it, the clip build
(pipeline/sequence/build.py) reads it.

The clip build of version ``v`` keeps its working frames when a cut will show them (``wanted``): a cut that follows
the newest version and was built with ``v`` or an older one (it is rebuilt with ``v``), or a cut pinned to ``v``.
A cut built with a newer version, or pinned to another one, never shows ``v`` again. A cut's build releases the
working frames of each version it showed once no following cut of the shot is still built with an older version
(``waiting``): every cut that will show ``v`` has been built with it.

Read-modify-write, no lock: two cuts of one shot built at the same moment may each write the marker, and the
later write loses the other cut's entry. Then that cut is not counted: the shot's working frames may be
released before it is rebuilt, and it decodes the sources again (slower, the same pictures). The next build of
that cut writes its entry back.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxygen_core.settings import Settings
    from proxygen_core.store.base import Store

CUT_USES = ".proxies/uses/"  # under the show's editorial folder: one .json per shot, written by its cuts' builds


def uses_key(editorial_root: str, shot: str) -> str:
    """Where the cuts of a show say which of them use ``shot`` (``editorial_root``: the show's editorial folder
    as a key, ``store.bucket_key(settings.pipeline.editorial_folder(show))``)."""
    return f"{editorial_root}{CUT_USES}{shot}.json"


def shot_uses_key(store: Store, identity: Mapping[str, Any], settings: Settings) -> str | None:
    """The marker the cuts of a show leave for a shot (None: no show or shot, so no cut uses it)."""
    pipeline = settings.pipeline
    show, shot = identity.get("show"), identity.get("shot")
    if not show or not shot or not pipeline.editorial_prefix:
        return None
    return uses_key(store.bucket_key(pipeline.editorial_folder(show)), shot)


def cut_wants(store: Store, marker: str | None, version: Any) -> bool:
    """Whether a cut will show ``version`` of the shot whose marker is ``marker`` (``Uses.wanted``). A marker
    that cannot be read says yes: a working frame kept late costs bytes, one missing costs a decode."""
    if marker is None:
        return False
    try:
        data = store.get_bytes_if_exists(marker)
    except Exception:
        return True
    return Uses.parse(data).wanted(version if isinstance(version, int) else None)


@dataclass
class Uses:
    """A shot's marker: cut URI -> the version it was built with (0: none), and the cuts pinned to theirs."""

    cuts: dict[str, int] = field(default_factory=dict)
    pinned: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, data: bytes | None) -> Uses:
        """The marker's JSON (None: no marker). A marker that cannot be read names no cut (it is rewritten)."""
        if data is None:
            return cls()
        try:
            doc: Any = json.loads(data)
            cuts = {str(k): int(v or 0) for k, v in dict(doc.get("cuts") or {}).items()}
            return cls(cuts, {str(c) for c in doc.get("pinned") or () if c in cuts})
        except (ValueError, TypeError, AttributeError):
            return cls()

    def to_json(self) -> bytes:
        return json.dumps({"cuts": dict(sorted(self.cuts.items())), "pinned": sorted(self.pinned & set(self.cuts))},
                          indent=1).encode()

    def set(self, cut: str, version: int | None, pinned: bool) -> None:
        self.cuts[cut] = version or 0
        if pinned:
            self.pinned.add(cut)
        else:
            self.pinned.discard(cut)

    def drop(self, cut: str) -> None:
        self.cuts.pop(cut, None)
        self.pinned.discard(cut)

    def wanted(self, version: int | None) -> bool:
        """Whether some cut will show ``version`` of the shot (built again): the clip build's keep rule. None (an
        unversioned shot): whether any cut uses it."""
        if version is None:
            return bool(self.cuts)
        return any(built == version if cut in self.pinned else built <= version for cut, built in self.cuts.items())

    def waiting(self, version: int | None) -> bool:
        """Whether some cut that will show ``version`` has not been built with it yet: the cut build's release
        rule (a following cut built with an older version). None: never (nothing to compare)."""
        if version is None:
            return False
        return any(built < version for cut, built in self.cuts.items() if cut not in self.pinned)
