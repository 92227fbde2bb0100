"""Publishing to ShotGrid (Flow Production Tracking): a Version per (shot, task, version), a Playlist per daily.

What is written (docs/trackers.md): the Version's ``code`` (``sh010_comp_v003``), project, ``entity`` (the Shot),
``sg_task``, ``sg_first_frame``/``sg_last_frame``/``frame_range``, ``sg_path_to_movie`` and ``sg_path_to_frames``
(the bucket URIs: a studio's RV or a review tool can open them), ``sg_status_list`` and ``description`` (the
comment); the review movie uploaded to ``sg_uploaded_movie`` (ShotGrid transcodes it for its player) and the poster
as the Version's and the Shot's thumbnail; the Shot's cut in/out from the frame range. Fields a site may lack
(``frame_count``, ``sg_uploaded_movie_frame_rate``, ``sg_cut_duration``) are written only when the site's schema
has them, read once per connection.

Entities: the Project by ``name``, the Sequence and Shot by ``code`` in it, the task type is a Pipeline Step
(``code`` or ``short_name``) and the Task is the Shot's task of that step named ``content``. A missing project,
sequence, shot or task is created when ``Publication.create`` and refused otherwise; a missing Step is always
refused: steps are the studio's pipeline configuration, not something a proxy generator should invent.

Every ShotGrid call goes through ``_guard``: the library's exceptions (xmlrpc ProtocolError, its Fault family,
httplib2 and socket errors, urllib errors from uploads) become TrackerUnavailable (cannot reach it, 5xx) or
TrackerRefused (credentials, permissions, validation), so no shotgun_api3 exception reaches the publisher.
"""
from __future__ import annotations

import socket
import ssl
import urllib.error
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from xmlrpc.client import ProtocolError

from proxygen_core.trackers.base import (
    Publication,
    Revision,
    TrackerRefused,
    TrackerUnavailable,
    by_http_status,
    describe,
    guarded,
    require,
)

if TYPE_CHECKING:
    from proxygen_core.settings import TrackerSettings

NAME = "shotgrid"
# Kitsu's status short names (the settings' default) as ShotGrid's default Version statuses: used only when the
# configured status is not one of the site's own codes and the alias is.
STATUS_ALIASES = {"wfa": "rev", "wip": "rev", "done": "apr", "retake": "na"}
# Written only when the site's Version / Shot schema has them (they are standard but may have been removed)
OPTIONAL_VERSION_FIELDS = ("frame_count", "sg_uploaded_movie_frame_rate")
OPTIONAL_SHOT_FIELDS = ("sg_cut_duration",)
TIMEOUT_SECONDS = 120.0  # one RPC or upload; the library's default is to wait forever


def connect(settings: TrackerSettings) -> ShotGridTracker:
    """A ShotGrid publisher logged in with the script's key (checked with one authenticated read)."""
    require(NAME, settings)
    import shotgun_api3  # only where ShotGrid is the configured tracker

    url = str(settings.shotgrid_url).rstrip("/")
    with _guard(f"connecting to {url}"):
        # connect=False: the connection (and its timeout) is made on the first call, after the timeout is set
        sg = shotgun_api3.Shotgun(url, script_name=settings.shotgrid_script, api_key=settings.shotgrid_key,
                                  connect=False)
        sg.config.timeout_secs = TIMEOUT_SECONDS
        sg.server_caps  # noqa: B018 - the server's version (unauthenticated), as connect=True would read it
        sg.find_one("Project", [["id", "is", 0]], ["id"])  # the credentials
    return ShotGridTracker(sg, url)


class ShotGridTracker:
    """The Tracker (base.py) over one shotgun_api3.Shotgun (or mockgun) connection."""

    name = NAME

    def __init__(self, sg: Any, site_url: str) -> None:
        self.sg = sg
        self.site_url = site_url.rstrip("/")
        self._fields: dict[str, set[str]] = {}  # the site's schema, read once per connection
        self._statuses: list[str] | None = None

    # --- the interface --------------------------------------------------------------------------------------------

    def find_revision(self, pub: Publication) -> Revision | None:
        project = self._find("Project", [["name", "is", pub.project]])
        if project is None:
            return None
        shot = self._find("Shot", [["project", "is", project], ["code", "is", pub.shot]])
        if shot is None:
            return None
        step = self._step(pub)
        task = self._find("Task", [["entity", "is", shot], ["content", "is", pub.task], ["step", "is", step]])
        if task is None:
            return None
        version = self._find("Version", [["project", "is", project], ["entity", "is", shot],
                                         ["sg_task", "is", task], ["code", "is", pub.code]])
        return None if version is None else self._revision(version["id"], created=False)

    def create_revision(self, pub: Publication) -> Revision:
        project = self._ensure("Project", [["name", "is", pub.project]], {"name": pub.project}, pub)
        step = self._step(pub)
        links: dict[str, Any] = {}
        if pub.sequence:
            sequence = self._ensure("Sequence", [["project", "is", project], ["code", "is", pub.sequence]],
                                    {"project": project, "code": pub.sequence}, pub)
            links["sg_sequence"] = sequence
        shot = self._ensure("Shot", [["project", "is", project], ["code", "is", pub.shot]],
                            {"project": project, "code": pub.shot, **links}, pub)
        task = self._ensure("Task", [["entity", "is", shot], ["content", "is", pub.task], ["step", "is", step]],
                            {"project": project, "entity": shot, "content": pub.task, "step": step}, pub)
        data = {"code": pub.code, "project": project, "entity": shot, "sg_task": task, **self._version_fields(pub)}
        with _guard(f"creating Version {pub.code}"):
            version = self.sg.create("Version", data)
        self._media(version["id"], shot["id"], pub)
        return self._revision(version["id"], created=True)

    def update_revision(self, revision: Revision, pub: Publication) -> Revision:
        version_id = int(revision.id)
        with _guard(f"updating Version {pub.code}"):
            self.sg.update("Version", version_id, self._version_fields(pub))
            version = self.sg.find_one("Version", [["id", "is", version_id]], ["entity"])
        if version is None or not version.get("entity"):
            raise TrackerRefused(NAME, f"Version {version_id} ({pub.code}) has no Shot to update")
        self._media(version_id, version["entity"]["id"], pub)
        return self._revision(version_id, created=False)

    def publish_playlist(self, name: str, project: str, revisions: list[Revision]) -> Revision:
        found = self._find("Project", [["name", "is", project]])
        if found is None:
            raise TrackerRefused(NAME, f"no Project named {project!r} for playlist {name!r}")
        versions = [{"type": "Version", "id": int(r.id)} for r in revisions]
        playlist = self._find("Playlist", [["project", "is", found], ["code", "is", name]])
        with _guard(f"writing Playlist {name}"):
            if playlist is None:
                playlist = self.sg.create("Playlist", {"code": name, "project": found, "versions": versions})
                created = True
            else:  # the day's playlist is replaced, not appended to: publishing it again is idempotent
                self.sg.update("Playlist", playlist["id"], {"versions": versions},
                               multi_entity_update_modes={"versions": "set"})
                created = False
        return Revision(id=str(playlist["id"]), url=f"{self.site_url}/detail/Playlist/{playlist['id']}",
                        created=created, details={"versions": str(len(versions))})

    # --- the fields -----------------------------------------------------------------------------------------------

    def _version_fields(self, pub: Publication) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "sg_first_frame": pub.first_frame,
            "sg_last_frame": pub.last_frame,
            "frame_range": f"{pub.first_frame}-{pub.last_frame}",
            "sg_path_to_movie": pub.movie_uri,
            "sg_path_to_frames": pub.frames_uri,
            "sg_status_list": self._status(pub.status),
            "description": pub.comment,
        }
        known = self._schema("Version")
        optional = {"frame_count": pub.frame_count, "sg_uploaded_movie_frame_rate": float(pub.fps)}
        fields.update({k: v for k, v in optional.items() if k in known})
        return fields

    def _shot_fields(self, pub: Publication) -> dict[str, Any]:
        fields: dict[str, Any] = {"sg_cut_in": pub.first_frame, "sg_cut_out": pub.last_frame}
        if "sg_cut_duration" in self._schema("Shot"):
            fields["sg_cut_duration"] = pub.frame_count
        return fields

    def _media(self, version_id: int, shot_id: int, pub: Publication) -> None:
        """The movie on the Version (ShotGrid's player transcodes it), the poster on the Version and the Shot,
        the Shot's cut range. Uploading again replaces the field's file: a rebuild leaves one movie."""
        with _guard(f"uploading {pub.movie.name} to Version {version_id}"):
            self.sg.upload("Version", version_id, str(pub.movie), field_name="sg_uploaded_movie")
        if pub.poster is not None:
            with _guard(f"uploading the poster {pub.poster.name}"):
                self.sg.upload_thumbnail("Version", version_id, str(pub.poster))
                self.sg.upload_thumbnail("Shot", shot_id, str(pub.poster))
        with _guard(f"setting the cut range of Shot {pub.shot}"):
            self.sg.update("Shot", shot_id, self._shot_fields(pub))

    def _status(self, status: str) -> str:
        """The configured status if it is one of the site's Version statuses, else its alias (STATUS_ALIASES) if
        that is; else refused, naming the site's codes (ShotGrid rejects an unknown code anyway)."""
        if self._statuses is None:
            with _guard("reading the Version statuses"):
                schema = self.sg.schema_field_read("Version", "sg_status_list")
            props = schema.get("sg_status_list", {}).get("properties", {})
            self._statuses = list(props.get("valid_values", {}).get("value") or [])
        valid = self._statuses
        if not valid or status in valid:
            return status
        alias = STATUS_ALIASES.get(status)
        if alias in valid:
            return str(alias)
        raise TrackerRefused(NAME, f"status {status!r} is not a Version status of this site ({', '.join(valid)}): "
                                   "set PROXYGEN_TRACKER_STATUS")

    def _schema(self, entity_type: str) -> set[str]:
        if entity_type not in self._fields:
            with _guard(f"reading the {entity_type} schema"):
                self._fields[entity_type] = set(self.sg.schema_field_read(entity_type))
        return self._fields[entity_type]

    # --- entities -------------------------------------------------------------------------------------------------

    def _step(self, pub: Publication) -> dict[str, Any]:
        """The Pipeline Step that is the task type: ``pub.task_type`` or the identity's task, by code or short
        name (ShotGrid compares text case-insensitively)."""
        wanted = pub.task_type or pub.task
        step = self._find("Step", [["code", "is", wanted], ["entity_type", "is", "Shot"]]) or \
            self._find("Step", [["short_name", "is", wanted], ["entity_type", "is", "Shot"]])
        if step is None:
            raise TrackerRefused(NAME, f"no Shot pipeline step named {wanted!r} (the task type): set "
                                       "PROXYGEN_TRACKER_TASK_TYPE to one of the site's steps")
        return step

    def revision_status(self, project: str, revision_id: str) -> str | None:
        with _guard("reading the version's status"):
            found = self.sg.find_one("Version", [["id", "is", int(revision_id)]], ["sg_status_list"])
        return None if found is None else str(found.get("sg_status_list") or "")

    def _find(self, entity_type: str, filters: list[Any]) -> dict[str, Any] | None:
        with _guard(f"finding {entity_type}"):
            found: dict[str, Any] | None = self.sg.find_one(entity_type, filters, ["id"])
        return None if found is None else {"type": entity_type, "id": found["id"]}

    def _ensure(self, entity_type: str, filters: list[Any], data: dict[str, Any], pub: Publication) -> dict[str, Any]:
        found = self._find(entity_type, filters)
        if found is not None:
            return found
        label = data.get("code") or data.get("name") or data.get("content")
        if not pub.create:
            raise TrackerRefused(NAME, f"no {entity_type} {label!r} in project {pub.project!r} "
                                       "(PROXYGEN_TRACKER_CREATE=true creates it)")
        with _guard(f"creating {entity_type} {label}"):
            made = self.sg.create(entity_type, data)
        return {"type": entity_type, "id": made["id"]}

    def _revision(self, version_id: int, created: bool) -> Revision:
        return Revision(id=str(version_id), url=f"{self.site_url}/detail/Version/{version_id}", created=created)


def _guard(doing: str) -> AbstractContextManager[None]:
    """shotgun_api3's exceptions as the publisher's two failures, saying what was being done."""
    return guarded(doing, _classify)


def _classify(exc: Exception, doing: str) -> TrackerRefused | TrackerUnavailable:
    from shotgun_api3 import AuthenticationFault, Fault, ShotgunError
    from shotgun_api3.lib.httplib2 import HttpLib2Error

    text = f"{doing}: {describe(exc)}"
    if isinstance(exc, ProtocolError):
        return by_http_status(NAME, exc.errcode, f"{doing}: HTTP {exc.errcode} {exc.errmsg}")
    if isinstance(exc, urllib.error.HTTPError):
        return by_http_status(NAME, exc.code, text)
    if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return TrackerRefused(NAME, f"{doing}: cannot read {exc.filename}: {exc.strerror}")
    if isinstance(exc, AuthenticationFault):
        return TrackerRefused(NAME, f"{doing}: the script name or key was refused ({exc})")
    if isinstance(exc, (urllib.error.URLError, HttpLib2Error, socket.timeout, ssl.SSLError, ConnectionError,
                        OSError)):
        return TrackerUnavailable(NAME, text)
    if isinstance(exc, (Fault, ShotgunError)):
        return TrackerRefused(NAME, text)
    return TrackerRefused(NAME, f"unexpected: {text}")
