"""Publishing to ftrack: an AssetVersion per (shot, task, version) with an ``ftrackreview-mp4`` component.

What is written (docs/trackers.md): under the Shot (in its Sequence) an Asset ``review{Task}`` of asset type
``upload`` (ftrack's type for review media); its AssetVersion numbered ``pub.version``, linked to the Task, with
the comment and the status; on it a FileComponent named ``ftrackreview-mp4`` stored in the ``ftrack.server``
location, with the ``ftr_meta`` metadata ftrack's web player reads (frameIn, frameOut, frameRate, width, height)
— what ftrack's "publishing for web review" documents; the poster as a second server component set as the
version's and the Shot's thumbnail; a Note carrying the comment; the Shot's ``fstart``/``fend``/``fps`` custom
attributes (ftrack's defaults) when the site has them. The daily is a ReviewSession (ftrack's review tool) whose
objects are the versions; a List would only group them, a review session is what a supervisor opens to review.

How: with ``Session.call`` batches — the API's own wire operations (``query``, ``create``, ``update``,
``delete``, ``get_upload_metadata`` and the PUT of the file to the URL it returns), the same ones
``version.create_component(path, data={'name': 'ftrackreview-mp4'}, location=server_location)``,
``component['metadata']['ftr_meta'] = ...`` and ``create_thumbnail`` send through the ORM and ServerLocation —
rather than the ORM itself, so every request is explicit, in one order, and checkable against hand-built
exchanges without a server (no ftrack server is reachable here to record from; tests/fixtures/trackers).

A rebuild of the same version deletes the version's previous ``ftrackreview-mp4`` component before adding the
new one (one playable review per version), and updates the comment, status and thumbnail.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
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

NAME = "ftrack"
REVIEW_COMPONENT = "ftrackreview-mp4"
SERVER_LOCATION_ID = "3a372bde-05bc-11e4-8908-20c9d081909b"  # ftrack_api.symbol.SERVER_LOCATION_ID
ASSET_TYPE = "upload"  # AssetType.short of ftrack's "Upload" type, the one for review media
SHOT_ATTRIBUTES = ("fstart", "fend", "fps")
TIMEOUT_SECONDS = 120.0
# Kitsu's status short names (the settings' default) as ftrack's default statuses; used only when the configured
# status is not a status name of the site and the alias is.
STATUS_ALIASES = {"wfa": "Pending Review", "wip": "In Progress", "done": "Approved", "retake": "Requires Changes"}


def connect(settings: TrackerSettings) -> FtrackTracker:
    """An ftrack publisher; the Session's first call (server information) checks the key."""
    require(NAME, settings)
    import ftrack_api  # only where ftrack is the configured tracker

    url = str(settings.ftrack_url).rstrip("/")
    with _guard(f"connecting to {url} as {settings.ftrack_user}"):
        # no schema cache file, no event hub, no plugins from FTRACK_EVENT_PLUGIN_PATH: a publisher needs none
        session = ftrack_api.Session(server_url=url, api_key=settings.ftrack_key, api_user=settings.ftrack_user,
                                     auto_connect_event_hub=False, schema_cache_path=False, plugin_paths=[],
                                     timeout=TIMEOUT_SECONDS)
    return FtrackTracker(session)


def _q(value: str) -> str:
    """A string literal in ftrack's query language."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _project(name: str) -> str:
    """A project by its short name (``name``) or its full name, as studios use either."""
    return f"(name is {_q(name)} or full_name is {_q(name)})"


class FtrackTracker:
    """The Tracker (base.py) over one ftrack_api.Session."""

    name = NAME

    def __init__(self, session: Any, new_id: Callable[[], str] | None = None) -> None:
        self.session = session
        self.server_url = str(session.server_url).rstrip("/")
        # ids of what this module creates (ftrack lets the client choose them); a test passes a counter
        self.new_id = new_id or (lambda: str(uuid.uuid4()))

    # --- the interface --------------------------------------------------------------------------------------------

    def find_revision(self, pub: Publication) -> Revision | None:
        project = self._one(f"select id from Project where {_project(pub.project)}", "finding the project")
        if project is None:
            return None
        shot = self._shot(project["id"], pub)
        if shot is None:
            return None
        version = self._version(shot["id"], pub)
        return None if version is None else self._revision(version["id"], created=False)

    def create_revision(self, pub: Publication) -> Revision:
        project = self._one(f"select id, project_schema_id from Project where {_project(pub.project)}",
                            "finding the project")
        if project is None:  # a project needs a workflow schema chosen by the studio: never created here
            raise TrackerRefused(NAME, f"no project named {pub.project!r}")
        task_type = self._task_type(pub)
        status = self._status(pub.status)
        shot = self._ensure_shot(project["id"], pub)
        task = self._ensure_task(project["id"], shot["id"], task_type, pub)
        asset = self._ensure_asset(shot["id"], pub)
        version_id = self.new_id()
        data: dict[str, Any] = {"__entity_type__": "AssetVersion", "id": version_id, "asset_id": asset["id"],
                                "version": pub.version, "task_id": task["id"], "comment": pub.comment}
        if status is not None:
            data["status_id"] = status
        self._call([{"action": "create", "entity_type": "AssetVersion", "entity_key": [version_id],
                     "entity_data": data}], f"creating version {pub.version} of {self._asset_name(pub)}")
        self._media(version_id, shot["id"], pub)
        self._note(version_id, pub)
        return self._revision(version_id, created=True)

    def update_revision(self, revision: Revision, pub: Publication) -> Revision:
        status = self._status(pub.status)
        data: dict[str, Any] = {"comment": pub.comment}
        if status is not None:
            data["status_id"] = status
        version = self._one(f"select id, asset.parent.id from AssetVersion where id is {_q(revision.id)}",
                            f"reading version {revision.id}")
        if version is None:
            raise TrackerRefused(NAME, f"AssetVersion {revision.id} ({pub.code}) is gone")
        shot_id = version["asset"]["parent"]["id"]
        old = self._query(f"select id from FileComponent where version_id is {_q(revision.id)} and name is "
                          f"{_q(REVIEW_COMPONENT)}", "finding the previous review component")
        ops = [{"action": "update", "entity_type": "AssetVersion", "entity_key": [revision.id],
                "entity_data": {"__entity_type__": "AssetVersion", **data}}]
        ops += [{"action": "delete", "entity_type": "FileComponent", "entity_key": [c["id"]]} for c in old]
        self._call(ops, f"updating version {revision.id}")
        self._media(revision.id, shot_id, pub)
        self._note(revision.id, pub)
        return self._revision(revision.id, created=False)

    def publish_playlist(self, name: str, project: str, revisions: list[Revision]) -> Revision:
        found = self._one(f"select id from Project where {_project(project)}", "finding the project")
        if found is None:
            raise TrackerRefused(NAME, f"no project named {project!r} for review session {name!r}")
        session = self._one(f"select id from ReviewSession where project_id is {_q(found['id'])} and name is "
                            f"{_q(name)}", f"finding review session {name}")
        ops: list[dict[str, Any]] = []
        if session is None:
            session_id, created = self.new_id(), True
            ops.append({"action": "create", "entity_type": "ReviewSession", "entity_key": [session_id],
                        "entity_data": {"__entity_type__": "ReviewSession", "id": session_id, "name": name,
                                        "project_id": found["id"], "description": "dailies (proxygen)"}})
            present: dict[str, str] = {}
        else:
            session_id, created = session["id"], False
            objects = self._query(f"select id, asset_version_id from ReviewSessionObject where review_session_id "
                                  f"is {_q(session_id)}", f"reading review session {name}")
            present = {o["asset_version_id"]: o["id"] for o in objects}
        wanted = [r.id for r in revisions]
        if wanted:
            versions = {v["id"]: v for v in self._query(
                "select id, version, asset.name from AssetVersion where id in (" + ", ".join(map(_q, wanted)) + ")",
                "reading the daily's versions")}
        for position, version_id in enumerate(wanted):
            if version_id in present or version_id not in versions:
                continue
            version = versions[version_id]
            object_id = self.new_id()
            ops.append({"action": "create", "entity_type": "ReviewSessionObject", "entity_key": [object_id],
                        "entity_data": {"__entity_type__": "ReviewSessionObject", "id": object_id,
                                        "review_session_id": session_id, "asset_version_id": version_id,
                                        "name": version["asset"]["name"], "version": f"Version {version['version']}",
                                        "sort_order": position}})
        ops += [{"action": "delete", "entity_type": "ReviewSessionObject", "entity_key": [object_id]}
                for version_id, object_id in present.items() if version_id not in wanted]
        if ops:
            self._call(ops, f"writing review session {name}")
        return Revision(id=session_id, url=f"{self.server_url}/#entityType=reviewsession&entityId={session_id}",
                        created=created, details={"versions": str(len(wanted))})

    # --- media ----------------------------------------------------------------------------------------------------

    def _media(self, version_id: str, shot_id: str, pub: Publication) -> None:
        """The movie as the version's ftrackreview-mp4 (with ftr_meta), the poster as version and shot thumbnail,
        the shot's frame range and fps where the site has those attributes."""
        movie_id = self._upload(pub.movie, REVIEW_COMPONENT, version_id)
        meta = {"frameIn": pub.first_frame, "frameOut": pub.last_frame, "frameRate": pub.fps,
                "width": pub.width, "height": pub.height}
        ops: list[dict[str, Any]] = [
            {"action": "create", "entity_type": "Metadata", "entity_key": [movie_id, "ftr_meta"],
             "entity_data": {"__entity_type__": "Metadata", "parent_id": movie_id, "parent_type": "FileComponent",
                             "key": "ftr_meta", "value": json.dumps(meta)}}]
        if pub.poster is not None:
            thumbnail_id = self._upload(pub.poster, "thumbnail", version_id=None)
            ops += [{"action": "update", "entity_type": kind, "entity_key": [key],
                     "entity_data": {"__entity_type__": kind, "thumbnail_id": thumbnail_id}}
                    for kind, key in (("AssetVersion", version_id), ("Shot", shot_id))]
        ops += self._shot_attributes(shot_id, pub)
        self._call(ops, f"describing the review of version {version_id}")

    def _upload(self, path: Any, name: str, version_id: str | None) -> str:
        """A FileComponent in the server location with the file's bytes: what Session.create_component and
        ServerLocation.add_component send (create, get_upload_metadata, PUT, ComponentLocation)."""
        component_id = self.new_id()
        data = path.read_bytes()
        data_fields: dict[str, Any] = {"__entity_type__": "FileComponent", "id": component_id, "name": name,
                                       "file_type": path.suffix, "size": len(data)}
        if version_id is not None:
            data_fields["version_id"] = version_id
        self._call([{"action": "create", "entity_type": "FileComponent", "entity_key": [component_id],
                     "entity_data": data_fields}], f"creating component {name}")
        checksum = base64.b64encode(hashlib.md5(data).digest()).decode()
        with _guard(f"asking where to upload {path.name}"):
            target = self.session.get_upload_metadata(component_id=component_id, file_name=path.name,
                                                      file_size=len(data), checksum=checksum)
        with _guard(f"uploading {path.name}"):
            import requests

            response = requests.put(target["url"], data=data, headers=target["headers"], timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
        location_id = self.new_id()
        self._call([{"action": "create", "entity_type": "ComponentLocation", "entity_key": [location_id],
                     "entity_data": {"__entity_type__": "ComponentLocation", "id": location_id,
                                     "component_id": component_id, "location_id": SERVER_LOCATION_ID,
                                     "resource_identifier": component_id}}], f"registering {path.name}")
        return component_id

    def _shot_attributes(self, shot_id: str, pub: Publication) -> list[dict[str, Any]]:
        """Updates of the Shot's fstart/fend/fps custom attributes, for those the site configures."""
        configured = self._query("select id, key from CustomAttributeConfiguration where key in ("
                                 + ", ".join(map(_q, SHOT_ATTRIBUTES)) + ") and (object_type.name is \"Shot\" "
                                 "or is_hierarchical is true)", "reading the shot attributes")
        values = {"fstart": pub.first_frame, "fend": pub.last_frame, "fps": pub.fps}
        ops = []
        seen: set[str] = set()
        for config in configured:
            key = config["key"]
            if key in seen or key not in values:  # a Shot's own configuration first, then a hierarchical one
                continue
            seen.add(key)
            ops.append({"action": "update", "entity_type": "ContextCustomAttributeValue",
                        "entity_key": [config["id"], shot_id],
                        "entity_data": {"__entity_type__": "ContextCustomAttributeValue",
                                        "configuration_id": config["id"], "entity_id": shot_id,
                                        "value": values[key]}})
        return ops

    def _note(self, version_id: str, pub: Publication) -> None:
        user = self._one(f"select id from User where username is {_q(self.session.api_user)}", "finding the user")
        note_id = self.new_id()
        data: dict[str, Any] = {"__entity_type__": "Note", "id": note_id, "content": pub.comment,
                                "parent_id": version_id, "parent_type": "AssetVersion"}
        if user is not None:
            data["user_id"] = user["id"]
        self._call([{"action": "create", "entity_type": "Note", "entity_key": [note_id], "entity_data": data}],
                   f"adding the note to version {version_id}")

    # --- entities -------------------------------------------------------------------------------------------------

    def _asset_name(self, pub: Publication) -> str:
        return "review" + pub.task[:1].upper() + pub.task[1:]

    def _shot(self, project_id: str, pub: Publication) -> dict[str, Any] | None:
        where = f"project_id is {_q(project_id)} and name is {_q(pub.shot)}"
        if pub.sequence:
            where += f" and parent.name is {_q(pub.sequence)}"
        return self._one(f"select id from Shot where {where}", f"finding shot {pub.shot}")

    def _version(self, shot_id: str, pub: Publication) -> dict[str, Any] | None:
        return self._one(f"select id from AssetVersion where asset.parent.id is {_q(shot_id)} and asset.name is "
                         f"{_q(self._asset_name(pub))} and version is {int(pub.version)}",
                         f"finding version {pub.version}")

    def _task_type(self, pub: Publication) -> str:
        wanted = (pub.task_type or pub.task).lower()
        types = self._query("select id, name from Type", "reading the task types")
        exact = [t for t in types if str(t["name"]).lower() == wanted]
        # ftrack's types have no short name: "comp" is Compositing when it begins exactly one type's name
        prefixed = [t for t in types if str(t["name"]).lower().startswith(wanted)]
        for matches in (exact, prefixed):
            if len(matches) == 1:
                return str(matches[0]["id"])
        raise TrackerRefused(NAME, f"no task type {pub.task_type or pub.task!r} "
                                   f"({', '.join(sorted(str(t['name']) for t in types))}): "
                                   "set PROXYGEN_TRACKER_TASK_TYPE")

    def _status(self, status: str) -> str | None:
        statuses = self._query("select id, name from Status", "reading the statuses")
        if not statuses:
            return None
        for wanted in (status, STATUS_ALIASES.get(status)):
            for known in statuses:
                if wanted and str(known["name"]).lower() == wanted.lower():
                    return str(known["id"])
        raise TrackerRefused(NAME, f"status {status!r} is not a status of this site "
                                   f"({', '.join(str(s['name']) for s in statuses)}): set PROXYGEN_TRACKER_STATUS")

    def _ensure_shot(self, project_id: str, pub: Publication) -> dict[str, Any]:
        shot = self._shot(project_id, pub)
        if shot is not None:
            return shot
        parent_id = project_id
        ops = []
        if pub.sequence:
            sequence = self._one(f"select id from Sequence where project_id is {_q(project_id)} and name is "
                                 f"{_q(pub.sequence)}", f"finding sequence {pub.sequence}")
            if sequence is None:
                self._refuse_unless_create(pub, f"no sequence {pub.sequence!r}")
                parent_id = self.new_id()
                ops.append(self._create_context("Sequence", parent_id, pub.sequence, project_id, project_id))
            else:
                parent_id = sequence["id"]
        self._refuse_unless_create(pub, f"no shot {pub.shot!r}")
        shot_id = self.new_id()
        ops.append(self._create_context("Shot", shot_id, pub.shot, parent_id, project_id))
        self._call(ops, f"creating shot {pub.shot}")
        return {"id": shot_id}

    def _ensure_task(self, project_id: str, shot_id: str, type_id: str, pub: Publication) -> dict[str, Any]:
        task = self._one(f"select id from Task where parent_id is {_q(shot_id)} and name is {_q(pub.task)}",
                         f"finding task {pub.task}")
        if task is not None:
            return task
        self._refuse_unless_create(pub, f"no task {pub.task!r} on shot {pub.shot!r}")
        task_id = self.new_id()
        op = self._create_context("Task", task_id, pub.task, shot_id, project_id)
        op["entity_data"]["type_id"] = type_id
        self._call([op], f"creating task {pub.task}")
        return {"id": task_id}

    def _ensure_asset(self, shot_id: str, pub: Publication) -> dict[str, Any]:
        name = self._asset_name(pub)
        asset = self._one(f"select id from Asset where parent.id is {_q(shot_id)} and name is {_q(name)}",
                          f"finding asset {name}")
        if asset is not None:
            return asset
        asset_type = self._one(f"select id from AssetType where short is {_q(ASSET_TYPE)}", "finding the type")
        if asset_type is None:
            raise TrackerRefused(NAME, f"no asset type with short name {ASSET_TYPE!r} (ftrack's Upload type)")
        asset_id = self.new_id()
        self._call([{"action": "create", "entity_type": "Asset", "entity_key": [asset_id],
                     "entity_data": {"__entity_type__": "Asset", "id": asset_id, "name": name,
                                     "context_id": shot_id, "type_id": asset_type["id"]}}],
                   f"creating asset {name}")
        return {"id": asset_id}

    @staticmethod
    def _create_context(kind: str, entity_id: str, name: str, parent_id: str, project_id: str) -> dict[str, Any]:
        return {"action": "create", "entity_type": kind, "entity_key": [entity_id],
                "entity_data": {"__entity_type__": kind, "id": entity_id, "name": name, "parent_id": parent_id,
                                "project_id": project_id}}

    @staticmethod
    def _refuse_unless_create(pub: Publication, what: str) -> None:
        if not pub.create:
            raise TrackerRefused(NAME, f"{what} in project {pub.project!r} (PROXYGEN_TRACKER_CREATE=true creates it)")

    # --- the wire -------------------------------------------------------------------------------------------------

    def _call(self, operations: list[dict[str, Any]], doing: str) -> list[Any]:
        with _guard(doing):
            result: list[Any] = self.session.call(operations)
        return result

    def revision_status(self, project: str, revision_id: str) -> str | None:
        found = self._one(f'select status.name from AssetVersion where id is "{revision_id}"',
                          "reading the version's status")
        if found is None:
            return None
        status = found["status"]  # an entity (ftrack_api's Mapping), its name loaded by the query: no second call
        return str(status["name"] or "") if status else ""

    def _query(self, expression: str, doing: str) -> list[dict[str, Any]]:
        [result] = self._call([{"action": "query", "expression": expression}], doing)
        data: list[dict[str, Any]] = result["data"]
        return data

    def _one(self, expression: str, doing: str) -> dict[str, Any] | None:
        found = self._query(expression + " limit 1" if " limit " not in expression else expression, doing)
        return found[0] if found else None

    def _revision(self, version_id: str, created: bool) -> Revision:
        return Revision(id=version_id, url=f"{self.server_url}/#entityType=assetversion&entityId={version_id}",
                        created=created)


def _guard(doing: str) -> AbstractContextManager[None]:
    """ftrack_api's and requests' exceptions as the publisher's two failures, saying what was being done."""
    return guarded(doing, _classify)


def _classify(exc: Exception, doing: str) -> TrackerRefused | TrackerUnavailable:
    import requests

    text = f"{doing}: {describe(exc)}"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        return by_http_status(NAME, code, text)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return TrackerUnavailable(NAME, text)
    lowered = str(exc).lower()
    if any(word in lowered for word in ("api key", "credentials", "authenticat", "not authorized", "permission")):
        return TrackerRefused(NAME, f"{doing}: the API user or key was refused ({exc})")
    if any(word in lowered for word in ("502", "503", "504", "bad gateway", "service unavailable")):
        return TrackerUnavailable(NAME, text)
    return TrackerRefused(NAME, text)
