"""Publishing to AYON: a ``review`` product version per (shot, task, version) with the movie as its reviewable.

What is written (docs/trackers.md): in the project, the folder ``/{sequence}/{shot}`` (types Sequence and Shot)
with frameStart/frameEnd/fps/resolution attributes and the poster as its thumbnail; the shot's task (its task
type matched by name or short name to the project's task types); a product ``review{Task}`` (product type
``review``: one per task, since AYON numbers versions per product); the version ``pub.version`` on that task with
the frame range, fps, resolution, comment and ``source`` (the frames' bucket pattern) as attributes, the status,
the poster as its thumbnail and the movie uploaded as its reviewable (AYON's review player); a representation
``mp4`` recording where the movie lives in the bucket. The daily is an entity list of type ``review-session``
(what AYON's Review Sessions page shows) holding the versions.

Ids: folders and tasks are looked up by path and name (an artist or the studio's sync may have made them); every
id this module creates (folder, task, product, version, representation, review session) is derived from its
names (uuid5), so finding our own revision again is one REST read, a redelivered publish can never make a
second one, and the requests are the same on every run (the recorded-exchange tests depend on it).

A rebuild of the same version replaces its reviewable: the reviewables this module uploaded (label LABEL) are
deleted (a reviewable is an activity; ``delete_activity``) before the new movie is uploaded, so the version keeps
one. Written from ayon-python-api 1.2.25's source and AYON's REST documentation; no AYON server was reachable
to check against (the tests replay hand-built exchanges, tests/fixtures/trackers/ayon/README.md).
"""
from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

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

NAME = "ayon"
LABEL = "proxygen review"  # the reviewables this module uploads (and replaces on a rebuild)
PRODUCT_TYPE = "review"
REPRESENTATION = "mp4"
PLAYLIST_TYPE = "review-session"
TIMEOUT_SECONDS = 120.0
# Kitsu's status short names (the settings' default) as AYON's default statuses; used only when the configured
# status is not one of the project's and the alias is.
STATUS_ALIASES = {"wfa": "Pending review", "wip": "In progress", "done": "Approved", "retake": "Not ready"}
_IDS = uuid.UUID("6f1c2b8e-0a4d-4c7e-9d35-2a7f1e0b9c41")  # the namespace of the ids this module derives


def connect(settings: TrackerSettings) -> AyonTracker:
    """An AYON publisher with the API key checked (ayon_api does not raise on a bad key: it marks it invalid)."""
    require(NAME, settings)
    import ayon_api  # only where AYON is the configured tracker

    url = str(settings.ayon_url).rstrip("/")
    with _guard(f"connecting to {url}"):
        # site_id=None: no machine site id file is written; one try per call: the outbox retries with backoff
        con = ayon_api.ServerAPI(url, token=settings.ayon_key, site_id=None, timeout=TIMEOUT_SECONDS,
                                 max_retries=1)
        valid = con.has_valid_token
    if not valid:
        raise TrackerRefused(NAME, f"connecting to {url}: the API key was refused")
    return AyonTracker(con)


def derived_id(*parts: object) -> str:
    """The AYON entity id (32 hex digits) of a product, version, representation or list this module makes."""
    return uuid.uuid5(_IDS, "/".join(str(p) for p in parts)).hex


class AyonTracker:
    """The Tracker (base.py) over one ayon_api.ServerAPI connection."""

    name = NAME

    def __init__(self, con: Any) -> None:
        self.con = con
        self.base_url = str(con.get_base_url()).rstrip("/")

    # --- the interface --------------------------------------------------------------------------------------------

    def find_revision(self, pub: Publication) -> Revision | None:
        if self._project(pub.project) is None:
            return None
        version = self._rest(f"projects/{pub.project}/versions/{self._version_id(pub)}", "finding the version")
        return None if version is None else self._revision(pub.project, version["id"], created=False)

    def create_revision(self, pub: Publication) -> Revision:
        project = self._ensure_project(pub)
        task_type = self._task_type(project, pub)
        status = self._status(project, pub.status)
        shot_id = self._ensure_shot(pub)
        task_id = self._ensure_task(pub, shot_id, task_type)
        product_id = derived_id(pub.project, self._folder_path(pub), self._product_name(pub))
        if self._rest(f"projects/{pub.project}/products/{product_id}", "finding the review product") is None:
            with _guard(f"creating product {self._product_name(pub)}"):
                self.con.create_product(pub.project, self._product_name(pub), PRODUCT_TYPE, shot_id,
                                        product_id=product_id)
        version_id = self._version_id(pub)
        with _guard(f"creating version {pub.version} of {self._product_name(pub)}"):
            self.con.create_version(pub.project, pub.version, product_id, task_id=task_id,
                                    attrib=self._version_attrib(pub), data=self._data(pub), status=status,
                                    version_id=version_id)
            self.con.create_representation(pub.project, REPRESENTATION, version_id, files=self._files(pub),
                                           attrib={"path": pub.movie_uri}, data=self._data(pub),
                                           representation_id=derived_id(version_id, REPRESENTATION))
        self._media(pub, version_id, shot_id, replace=False)
        return self._revision(pub.project, version_id, created=True)

    def update_revision(self, revision: Revision, pub: Publication) -> Revision:
        project = self._ensure_project(pub)
        status = self._status(project, pub.status)
        shot = self._folder(pub.project, self._folder_path(pub))
        if shot is None:
            raise TrackerRefused(NAME, f"folder {self._folder_path(pub)} of version {revision.id} is gone")
        with _guard(f"updating version {revision.id}"):
            self.con.update_version(pub.project, revision.id, attrib=self._version_attrib(pub), data=self._data(pub),
                                    status=status)
            self.con.update_representation(pub.project, derived_id(revision.id, REPRESENTATION),
                                           files=self._files(pub), attrib={"path": pub.movie_uri})
            self.con.update_folder(pub.project, shot["id"], attrib=self._shot_attrib(pub))
        self._media(pub, revision.id, shot["id"], replace=True)
        return self._revision(pub.project, revision.id, created=False)

    def publish_playlist(self, name: str, project: str, revisions: list[Revision]) -> Revision:
        if self._project(project) is None:
            raise TrackerRefused(NAME, f"no project {project!r} for review session {name!r}")
        list_id = derived_id(project, PLAYLIST_TYPE, name)
        items = [{"entityId": r.id, "position": i} for i, r in enumerate(revisions)]
        found = self._rest(f"projects/{project}/lists/{list_id}", f"finding review session {name}")
        with _guard(f"writing review session {name}"):
            if found is None:
                self.con.create_entity_list(project, "version", name, list_type=PLAYLIST_TYPE, items=items,
                                            list_id=list_id)
            else:  # replaced, not merged: publishing the day again is idempotent
                self.con.update_entity_list_items(project, list_id, items, "replace")
        return Revision(id=list_id, url=f"{self.base_url}/projects/{project}/reviews?review={list_id}",
                        created=found is None, details={"versions": str(len(items))})

    # --- what is written ------------------------------------------------------------------------------------------

    def _media(self, pub: Publication, version_id: str, shot_id: str, replace: bool) -> None:
        """The movie as the version's one reviewable (ours replaced on a rebuild), the poster as the version's and
        the shot's thumbnail."""
        if replace:
            with _guard(f"listing the reviewables of version {version_id}"):
                listed = self.con.get_version_reviewables(pub.project, version_id)
            for reviewable in (listed or {}).get("reviewables", []):
                if reviewable.get("label") == LABEL:
                    with _guard(f"deleting the previous reviewable {reviewable.get('activityId')}"):
                        self.con.delete_activity(pub.project, reviewable["activityId"])
        with _guard(f"uploading {pub.movie.name} as the reviewable of version {version_id}"):
            response = self.con.upload_reviewable(pub.project, version_id, str(pub.movie), label=LABEL,
                                                  content_type="video/mp4")
            response.raise_for_status()
        if pub.poster is not None:
            with _guard(f"uploading the poster {pub.poster.name}"):
                thumbnail_id = self.con.create_thumbnail(pub.project, str(pub.poster))
                self.con.update_version(pub.project, version_id, thumbnail_id=thumbnail_id)
                self.con.update_folder(pub.project, shot_id, thumbnail_id=thumbnail_id)

    def _version_attrib(self, pub: Publication) -> dict[str, Any]:
        return {"frameStart": pub.first_frame, "frameEnd": pub.last_frame, "handleStart": 0, "handleEnd": 0,
                "fps": float(pub.fps), "resolutionWidth": pub.width, "resolutionHeight": pub.height,
                "comment": pub.comment, "source": pub.frames_uri}

    def _shot_attrib(self, pub: Publication) -> dict[str, Any]:
        return {"frameStart": pub.first_frame, "frameEnd": pub.last_frame, "fps": float(pub.fps),
                "resolutionWidth": pub.width, "resolutionHeight": pub.height}

    @staticmethod
    def _data(pub: Publication) -> dict[str, Any]:
        return {"proxygen": {"clip_id": pub.clip_id, "movie_uri": pub.movie_uri, "frames_uri": pub.frames_uri}}

    @staticmethod
    def _files(pub: Publication) -> list[dict[str, Any]]:
        return [{"id": derived_id(pub.movie_uri), "name": pub.movie.name, "path": pub.movie_uri,
                 "size": pub.movie.stat().st_size}]

    # --- entities -------------------------------------------------------------------------------------------------

    def _project(self, name: str) -> dict[str, Any] | None:
        return self._rest(f"projects/{name}", f"reading project {name}")

    def _ensure_project(self, pub: Publication) -> dict[str, Any]:
        project = self._project(pub.project)
        if project is not None:
            return project
        if not pub.create:
            raise TrackerRefused(NAME, f"no project {pub.project!r} (PROXYGEN_TRACKER_CREATE=true creates it)")
        with _guard(f"creating project {pub.project}"):
            self.con.create_project(pub.project, pub.project)
        made = self._project(pub.project)
        if made is None:
            raise TrackerRefused(NAME, f"project {pub.project!r} was created but cannot be read back")
        return made

    def _task_type(self, project: dict[str, Any], pub: Publication) -> str:
        wanted = (pub.task_type or pub.task).lower()
        for task_type in project.get("taskTypes") or []:
            if wanted in (str(task_type.get("name", "")).lower(), str(task_type.get("shortName", "")).lower()):
                return str(task_type["name"])
        names = ", ".join(str(t.get("name")) for t in project.get("taskTypes") or [])
        raise TrackerRefused(NAME, f"no task type {pub.task_type or pub.task!r} in project {pub.project!r} "
                                   f"({names}): set PROXYGEN_TRACKER_TASK_TYPE")

    def _status(self, project: dict[str, Any], status: str) -> str | None:
        """The project's status named ``status`` (or its short name, or its alias); refused when unknown. None when
        the project lists no statuses (the server's default applies)."""
        statuses = project.get("statuses") or []
        if not statuses:
            return None
        for wanted in (status, STATUS_ALIASES.get(status)):
            for known in statuses:
                if wanted and wanted.lower() in (str(known.get("name", "")).lower(),
                                                 str(known.get("shortName", "")).lower()):
                    return str(known["name"])
        names = ", ".join(str(s.get("name")) for s in statuses)
        raise TrackerRefused(NAME, f"status {status!r} is not a status of project {project.get('name')!r} "
                                   f"({names}): set PROXYGEN_TRACKER_STATUS")

    @staticmethod
    def _folder_path(pub: Publication) -> str:
        return f"/{pub.sequence}/{pub.shot}" if pub.sequence else f"/{pub.shot}"

    @staticmethod
    def _product_name(pub: Publication) -> str:
        return PRODUCT_TYPE + pub.task[:1].upper() + pub.task[1:]

    def _version_id(self, pub: Publication) -> str:
        product_id = derived_id(pub.project, self._folder_path(pub), self._product_name(pub))
        return derived_id(product_id, pub.version)

    def _folder(self, project: str, path: str) -> dict[str, Any] | None:
        with _guard(f"finding folder {path}"):
            found: dict[str, Any] | None = self.con.get_folder_by_path(project, path, fields={"id", "path"})
        return found

    def _ensure_shot(self, pub: Publication) -> str:
        parent_id = None
        if pub.sequence:
            sequence = self._folder(pub.project, f"/{pub.sequence}")
            if sequence is None:
                parent_id = self._create_folder(pub, pub.sequence, "Sequence", None, {})
            else:
                parent_id = str(sequence["id"])
        shot = self._folder(pub.project, self._folder_path(pub))
        if shot is None:
            return self._create_folder(pub, pub.shot, "Shot", parent_id, self._shot_attrib(pub))
        with _guard(f"setting the frame range of {self._folder_path(pub)}"):
            self.con.update_folder(pub.project, shot["id"], attrib=self._shot_attrib(pub))
        return str(shot["id"])

    def _create_folder(self, pub: Publication, name: str, folder_type: str, parent_id: str | None,
                       attrib: dict[str, Any]) -> str:
        if not pub.create:
            raise TrackerRefused(NAME, f"no {folder_type.lower()} folder {name!r} in project {pub.project!r} "
                                       "(PROXYGEN_TRACKER_CREATE=true creates it)")
        with _guard(f"creating {folder_type.lower()} folder {name}"):
            return str(self.con.create_folder(pub.project, name, folder_type=folder_type, parent_id=parent_id,
                                              attrib=attrib or None,
                                              folder_id=derived_id(pub.project, parent_id, name)))

    def _ensure_task(self, pub: Publication, shot_id: str, task_type: str) -> str:
        with _guard(f"finding task {pub.task}"):
            task = self.con.get_task_by_name(pub.project, shot_id, pub.task, fields={"id", "name", "taskType"})
        if task is not None:
            return str(task["id"])
        if not pub.create:
            raise TrackerRefused(NAME, f"no task {pub.task!r} on {self._folder_path(pub)} in project "
                                       f"{pub.project!r} (PROXYGEN_TRACKER_CREATE=true creates it)")
        with _guard(f"creating task {pub.task}"):
            return str(self.con.create_task(pub.project, pub.task, task_type, shot_id,
                                            task_id=derived_id(pub.project, shot_id, pub.task)))

    def _rest(self, endpoint: str, doing: str) -> dict[str, Any] | None:
        """One REST read: the entity, None when the server says 404, else the failure classified."""
        with _guard(doing):
            response = self.con.get(endpoint)
        if response.status == 404:
            return None
        if 200 <= response.status < 300:
            data: dict[str, Any] = response.data
            return data
        raise _by_status(response.status, f"{doing}: HTTP {response.status} {response.detail}")

    def revision_status(self, project: str, revision_id: str) -> str | None:
        found = self._rest(f"projects/{project}/versions/{revision_id}", "reading the version's status")
        return None if found is None else str(found.get("status") or "")

    def _revision(self, project: str, version_id: str, created: bool) -> Revision:
        return Revision(id=version_id, url=f"{self.base_url}/projects/{project}/browser?type=version&id={version_id}",
                        created=created)


def _by_status(status: int, text: str) -> TrackerRefused | TrackerUnavailable:
    # ayon_api reports a refused connection or a timeout as a response of status 500 with no HTTP reply behind it
    return by_http_status(NAME, status, text)


def _guard(doing: str) -> AbstractContextManager[None]:
    """ayon_api's and requests' exceptions as the publisher's two failures, saying what was being done."""
    return guarded(doing, _classify)


def _classify(exc: Exception, doing: str) -> TrackerRefused | TrackerUnavailable:
    import requests
    from ayon_api.exceptions import HTTPRequestError, ServerNotReached, UnauthorizedError

    text = f"{doing}: {describe(exc)}"
    response = getattr(exc, "response", None)
    if isinstance(exc, (HTTPRequestError, requests.HTTPError)) and response is not None:
        return _by_status(int(getattr(response, "status_code", 500)), text)
    if isinstance(exc, UnauthorizedError):
        return TrackerRefused(NAME, f"{doing}: the API key was refused ({exc})")
    if isinstance(exc, (ServerNotReached, requests.ConnectionError, requests.Timeout, ConnectionError,
                        TimeoutError)):
        return TrackerUnavailable(NAME, text)
    if "Unable to connect the server" in str(exc) or "Connection timed out" in str(exc):
        return TrackerUnavailable(NAME, text)  # ayon_api's stand-in response for a failed connection
    return TrackerRefused(NAME, text)
