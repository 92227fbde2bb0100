"""An in-memory tracker for the publish tests: it behaves as the real ones do where the publisher's logic is
concerned (it does not deduplicate, it can be down, it can refuse), so those rules are tested without a server.
The real trackers' modules are tested against zou, mockgun and hand-built exchanges.

``connect`` is also a tracker module's entry point: a test can point ``TRACKERS[name]`` at this module, and
``CURRENT`` is the tracker it connects to."""
from __future__ import annotations

from proxygen_core.settings import TrackerSettings
from proxygen_core.trackers.base import Publication, Revision, TrackerRefused, TrackerUnavailable


class MemoryTracker:
    """Revisions by (project, shot, task, version), each with its uploads; no deduplication of its own."""

    name = "memory"

    def __init__(self) -> None:
        self.revisions: dict[tuple, dict] = {}
        self.down = False
        self.refuse: str | None = None
        self.calls: list[str] = []
        self.playlists: dict[tuple[str, str], list[str]] = {}
        self.statuses: dict[str, str] = {}  # revision id -> its review status (as a supervisor set it)

    def connect(self, settings: TrackerSettings) -> MemoryTracker:
        if self.down:
            raise TrackerUnavailable("kitsu", "connection refused (127.0.0.1:1)")
        if self.refuse:
            raise TrackerRefused("kitsu", self.refuse)
        return self

    def _key(self, pub: Publication) -> tuple:
        return pub.project, pub.shot, pub.task, pub.version

    def find_revision(self, pub: Publication) -> Revision | None:
        self.calls.append("find")
        found = self.revisions.get(self._key(pub))
        return Revision(found["id"], found["url"]) if found else None

    def create_revision(self, pub: Publication) -> Revision:
        self.calls.append("create")
        rid = f"rev-{len(self.revisions) + 1}"
        self.revisions[self._key(pub)] = {"id": rid, "url": f"http://kitsu/{rid}", "movie": pub.movie.read_bytes(),
                                          "poster": pub.poster.read_bytes() if pub.poster else None,
                                          "comment": pub.comment, "uploads": 1, "pub": pub}
        return Revision(rid, f"http://kitsu/{rid}", created=True)

    def update_revision(self, revision: Revision, pub: Publication) -> Revision:
        self.calls.append("update")
        entry = self.revisions[self._key(pub)]
        entry.update(movie=pub.movie.read_bytes(), comment=pub.comment, uploads=entry["uploads"] + 1)
        return revision

    def revision_status(self, project: str, revision_id: str) -> str | None:
        self.calls.append("status")
        if self.down:
            raise TrackerUnavailable("kitsu", "connection refused (127.0.0.1:1)")
        known = {r["id"] for r in self.revisions.values()} | set(self.statuses)
        return self.statuses.get(revision_id, "wfa") if revision_id in known else None

    def publish_playlist(self, name: str, project: str, revisions: list[Revision]) -> Revision:
        self.playlists[(project, name)] = [r.id for r in revisions]
        return Revision(f"pl-{name}", f"http://kitsu/playlists/{name}")


CURRENT = MemoryTracker()


def connect(settings: TrackerSettings) -> MemoryTracker:
    return CURRENT.connect(settings)
