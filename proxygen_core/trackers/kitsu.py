"""Kitsu (zou's API through gazu 1.3.1): a revision is a comment on the shot's task carrying the review movie as a
preview file whose ``revision`` is the clip's version; the poster is a second preview on that comment, set as the
shot's main preview (Kitsu's thumbnail of an entity is its main preview: there is no other thumbnail upload).

Why these choices (docs/trackers.md, "Kitsu"):

- One gazu client per tracker (``gazu.client.create_client``), never gazu's module-level default: two trackers
  (or a test's second server) in one process must not share a login.
- ``normalize_movie=False``: the review movie is already the H.264 yuv420p MP4 a browser plays, at the clip's
  rate and size. Zou's normalization would re-encode it (a second generation on top of the quality we measured),
  letterbox it to the project's resolution, resample it to the project's fps (a 24-frame 24 fps clip in a 25 fps
  project comes back with 25 frames) and, with Debian's ffmpeg 5.1, comes out "broken" for a movie with
  B-frames and no audio track (plain libx264 defaults) without the upload failing. Unnormalized, zou stores our
  bytes as they are and still builds the thumbnails. The project's fps and resolution are still set from the
  clip before the upload, since Kitsu's player counts frames at the project's rate.
- The preview file's status is checked after every upload (an unnormalized movie is processed inside the
  request; a picture may wait on zou's job queue, polled for a bounded time): "broken" removes what this publish
  added and is a TrackerRefused.
- Every gazu/requests exception is turned into TrackerUnavailable (unreachable, timeouts, 5xx) or
  TrackerRefused (credentials, permissions, a request zou rejects), so the publisher can tell retry from fail.
  Requests carry a timeout (gazu sets none, and a hung server would hang the publisher).
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import gazu
import requests
from gazu.exception import (
    AuthFailedException,
    GazuException,
    NotAllowedException,
    NotAuthenticatedException,
    RouteNotFoundException,
    ServerErrorException,
)
from requests.adapters import HTTPAdapter

from proxygen_core.trackers.base import (
    SUPERSEDED,
    Publication,
    Revision,
    TrackerRefused,
    TrackerUnavailable,
    describe,
    require,
)

if TYPE_CHECKING:
    from proxygen_core.settings import TrackerSettings

NAME = "kitsu"
TIMEOUT = (10.0, 600.0)  # (connect, read) seconds: a movie is processed inside its upload request
NORMALIZE_MOVIE = False  # see the module docstring
PROCESSING_WAIT = 300.0  # seconds a preview queued on zou's job queue may take to become "ready"
T = TypeVar("T")


class _ServerDown(Exception):
    """A 5xx answer (gazu raises only for 500 and 502, and then tries to read JSON from a 503 page)."""


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of the client's session a timeout (gazu passes none)."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        self.timeout = timeout
        super().__init__()

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def _raise_5xx(response: requests.Response, *args: object, **kwargs: object) -> None:
    if response.status_code >= 500:
        raise _ServerDown(f"HTTP {response.status_code} from {response.url}")


def _translate(exc: BaseException, action: str) -> TrackerRefused | TrackerUnavailable | None:
    """The tracker error a client library's exception means, or None for anything else (a bug of ours)."""
    if isinstance(exc, (TrackerRefused, TrackerUnavailable)):
        return exc
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return TrackerRefused(NAME, f"{action}: the answer is not Kitsu's JSON (is the URL zou's API root?)")
    if isinstance(exc, (requests.exceptions.RequestException, _ServerDown, ServerErrorException)):
        return TrackerUnavailable(NAME, f"{action}: {describe(exc)}")
    if isinstance(exc, (AuthFailedException, NotAuthenticatedException)):
        return TrackerRefused(NAME, f"{action}: login refused ({exc or 'wrong user or password'})")
    if isinstance(exc, NotAllowedException):
        return TrackerRefused(NAME, f"{action}: not allowed for this user ({exc})")
    if isinstance(exc, GazuException):
        return TrackerRefused(NAME, f"{action}: {describe(exc)}")
    return None


def _guarded(action: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Let no gazu or requests exception out of a tracker method: each becomes a TrackerError naming ``action``."""
    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def run(*args: Any, **kwargs: Any) -> T:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                error = _translate(exc, action)
                if error is None or error is exc:
                    raise
                raise error from exc
        return run
    return wrap


def connect(settings: TrackerSettings) -> KitsuTracker:
    """The Kitsu publisher for ``PROXYGEN_KITSU_URL``/``_USER``/``_PASSWORD``, logged in; its links point at
    ``PROXYGEN_KITSU_WEB_URL`` (default: ``web_root``)."""
    require(NAME, settings)
    assert settings.kitsu_url and settings.kitsu_user and settings.kitsu_password
    return open_kitsu(settings.kitsu_url, settings.kitsu_user, settings.kitsu_password, web=settings.kitsu_web_url)


def web_root(api_url: str, web: str | None = None) -> str:
    """Where Kitsu's web app is, for the links of revisions and playlists: ``web`` (PROXYGEN_KITSU_WEB_URL) when
    set, else the API root without its ``/api`` (Kitsu's nginx serves the app at ``/`` and zou at ``/api``).

    A bare zou (``http://host:port``, no ``/api``) serves no web app: its root is the API's, and a link there
    opens zou's JSON, not a page. Set PROXYGEN_KITSU_WEB_URL to the Kitsu web app that talks to that zou."""
    if web:
        return web.rstrip("/")
    root = api_url.rstrip("/")
    return root[: -len("/api")] if root.endswith("/api") else root


@_guarded("log in")
def open_kitsu(url: str, user: str, password: str, timeout: tuple[float, float] = TIMEOUT,
               web: str | None = None) -> KitsuTracker:
    """Log in to zou at ``url`` (its API root: ``https://kitsu.studio/api``, or a bare zou's
    ``http://host:port``) with a client of our own; ``web``: Kitsu's web app (``web_root``)."""
    client = gazu.client.create_client(url.rstrip("/"))
    adapter = _TimeoutAdapter(timeout)
    client.session.mount("http://", adapter)
    client.session.mount("https://", adapter)
    client.session.hooks["response"].append(_raise_5xx)
    gazu.log_in(user, password, client=client)
    return KitsuTracker(client, url.rstrip("/"), web_root(url, web))


def _by_name(items: list[dict], name: str) -> dict | None:
    return next((item for item in items if item.get("name") == name), None)


class KitsuTracker:
    """base.Tracker for one logged-in zou."""

    name = NAME

    def __init__(self, client: Any, url: str, web: str | None = None) -> None:
        self.client = client
        self.url = url
        self._web = web or web_root(url)

    # --- look-ups (None when absent) -----------------------------------------------------------------------

    def _project(self, name: str) -> dict | None:
        found: dict | None = gazu.project.get_project_by_name(name, client=self.client)
        return found

    def _shot(self, project: dict, sequence: dict | None, pub: Publication) -> dict | None:
        if sequence is not None:
            found: dict | None = gazu.shot.get_shot_by_name(sequence, pub.shot, client=self.client)
            return found
        shots = [s for s in gazu.shot.all_shots_for_project(project, client=self.client) if s["name"] == pub.shot]
        if len(shots) > 1:
            raise TrackerRefused(NAME, f"shot {pub.shot!r} is in {len(shots)} sequences of project "
                                       f"{pub.project!r} and the clip's identity names no sequence")
        return shots[0] if shots else None

    def _sequence(self, project: dict, pub: Publication) -> dict | None:
        if pub.sequence is None:
            return None
        found: dict | None = gazu.shot.get_sequence_by_name(project, pub.sequence, client=self.client)
        return found

    def _task_type(self, pub: Publication) -> dict:
        """The task type named by ``pub.task_type`` (PROXYGEN_TRACKER_TASK_TYPE) or matched from the identity's
        task: the same name or short name (any case), else the one shot task type whose name starts with it
        ("comp" -> Compositing). Never created: an unknown task type is a refusal."""
        wanted = (pub.task_type or pub.task).strip().lower()
        types = [t for t in gazu.task.all_task_types(client=self.client) if t.get("for_entity", "Shot") == "Shot"]
        exact = [t for t in types if wanted in (t["name"].lower(), (t.get("short_name") or "").lower())]
        if len(exact) == 1:
            return exact[0]
        prefixed = [t for t in types if len(wanted) >= 3 and t["name"].lower().startswith(wanted)]
        if not exact and len(prefixed) == 1:
            return prefixed[0]
        candidates = exact or prefixed
        names = ", ".join(sorted(t["name"] for t in (candidates or types)))
        what = "matches several" if candidates else "matches none of"
        setting = "PROXYGEN_TRACKER_TASK_TYPE" if pub.task_type else f"the identity's task {pub.task!r}"
        raise TrackerRefused(NAME, f"task type {wanted!r} ({setting}) {what} Kitsu's shot task types: {names}")

    def _status(self, pub: Publication) -> dict:
        status: dict | None = gazu.task.get_task_status_by_short_name(pub.status, client=self.client)
        if status is None:
            names = ", ".join(sorted(s["short_name"] for s in gazu.task.all_task_statuses(client=self.client)))
            raise TrackerRefused(NAME, f"task status {pub.status!r} (PROXYGEN_TRACKER_STATUS) unknown to Kitsu: "
                                       f"one of {names}")
        return status

    def _task(self, pub: Publication) -> tuple[dict, dict, dict | None] | None:
        """(project, shot, task) of the publication, or None when any of them is absent."""
        project = self._project(pub.project)
        if project is None:
            return None
        sequence = self._sequence(project, pub)
        if sequence is None and pub.sequence is not None:
            return None  # not the same-named shot of another sequence
        shot = self._shot(project, sequence, pub)
        if shot is None:
            return None
        task: dict | None = gazu.task.get_task_by_entity(shot, self._task_type(pub), client=self.client)
        return project, shot, task

    def _previews(self, task: dict, version: int) -> list[dict]:
        """The task's preview files of this revision, the movie (position 1) first."""
        files = gazu.files.get_all_preview_files_for_task(task, client=self.client)
        return sorted((f for f in files if f.get("revision") == version),
                      key=lambda f: (f.get("position") or 0, f.get("created_at") or ""))

    def _revision(self, task: dict, movie: dict, created: bool) -> Revision:
        return Revision(id=movie["id"], url=self.shot_url(task), created=created,
                        details={"task_id": task["id"], "project_id": task["project_id"],
                                 "entity_id": task["entity_id"], "revision": str(movie["revision"]),
                                 "task_url": self.task_url(task, movie)})

    def shot_url(self, task: dict) -> str:
        """The shot's page in Kitsu's web app (Kitsu's route ``productions/:production_id/shots/:shot_id``): the
        link a row's ``tracker_url`` holds."""
        return f"{self._web}/productions/{task['project_id']}/shots/{task['entity_id']}"

    def task_url(self, task: dict, movie: dict | None = None) -> str:
        """The task's page in Kitsu's web app (its revisions and comments), opened at the revision's preview."""
        url = f"{self._web}/productions/{task['project_id']}/shots/tasks/{task['id']}"
        return f"{url}/previews/{movie['id']}" if movie is not None else url

    # --- base.Tracker ------------------------------------------------------------------------------------------

    @_guarded("find revision")
    def find_revision(self, pub: Publication) -> Revision | None:
        found = self._task(pub)
        if found is None or found[2] is None:
            return None
        task = found[2]
        previews = self._previews(task, pub.version)
        return self._revision(task, previews[0], created=False) if previews else None

    @_guarded("create revision")
    def create_revision(self, pub: Publication) -> Revision:
        status = self._status(pub)
        task_type = self._task_type(pub)
        project, shot, task = self._ensure_entities(pub, task_type)
        self._set_project_format(project, pub)
        self._set_shot_range(shot, pub)
        # The comment, its movie preview and the upload are one revision: made inside the try, removed together
        # when any of them fails. A comment an earlier attempt left behind (its clean-up failed too: zou went
        # away mid-publish) is found and reused, never a second one beside it.
        comment = self._stray_comment(task, pub)
        reused, movie = comment is not None, None
        try:
            if comment is None:
                comment = gazu.task.add_comment(task, status, pub.comment, client=self.client)
            movie = gazu.task.create_preview(task, comment, revision=pub.version, client=self.client)
            movie = self._upload(movie, pub.movie)
            if reused:  # this build's text and status on the comment an earlier attempt left
                gazu.client.put(f"data/comments/{comment['id']}",
                                {"text": pub.comment, "task_status_id": status["id"]}, client=self.client)
        except BaseException:
            if comment is not None:  # nothing half-made is left to be found as this revision
                self._remove(comment, [movie] if movie is not None else [])
            raise
        if pub.poster is not None:
            self._set_poster(task, comment, pub)
        return self._revision(task, movie, created=True)

    @_guarded("update revision")
    def update_revision(self, revision: Revision, pub: Publication) -> Revision:
        status = self._status(pub)
        movie = gazu.files.get_preview_file(revision.id, client=self.client)
        task = gazu.task.get_task(movie["task_id"], client=self.client)
        project = gazu.project.get_project(task["project_id"], client=self.client)
        shot = gazu.shot.get_shot(task["entity_id"], client=self.client)
        comment = self._comment_of(task, movie["id"])
        self._set_project_format(project, pub)
        self._set_shot_range(shot, pub)
        movie = self._upload(movie, pub.movie)  # the same preview id: a rebuild never adds a revision
        gazu.client.put(f"data/comments/{comment['id']}", {"text": pub.comment, "task_status_id": status["id"]},
                        client=self.client)
        if pub.poster is not None:
            self._set_poster(task, comment, pub)
        return self._revision(task, movie, created=False)

    @_guarded("read revision status")
    def revision_status(self, project: str, revision_id: str) -> str | None:
        try:
            movie = gazu.files.get_preview_file(revision_id, client=self.client)
        except RouteNotFoundException:
            return None
        if not movie:
            return None
        task = gazu.task.get_task(movie["task_id"], client=self.client)
        newest = max((int(p.get("revision") or 0) for p in
                      gazu.files.get_all_preview_files_for_task(task, client=self.client)), default=0)
        if int(movie.get("revision") or 0) < newest:
            return SUPERSEDED  # Kitsu approves a task: only its newest revision carries that status
        status = gazu.task.get_task_status(task["task_status_id"], client=self.client)
        return str(status["short_name"])

    @_guarded("publish playlist")
    def publish_playlist(self, name: str, project: str, revisions: list[Revision]) -> Revision:
        found = self._project(project)
        if found is None:
            raise TrackerRefused(NAME, f"project {project!r} not in Kitsu: no playlist {name!r}")
        playlist = gazu.playlist.get_playlist_by_name(found, name, client=self.client)
        if playlist is None:
            playlist = gazu.playlist.new_playlist(found, name, for_entity="shot", client=self.client)
        playlist = gazu.playlist.get_playlist(playlist, client=self.client)
        entries = {e["entity_id"]: e.get("preview_file_id") for e in playlist.get("shots") or []}
        repoint: dict[str, str] = {}  # shots already in the playlist, shown with another revision now
        gone = []
        for revision in revisions:
            try:
                preview = gazu.files.get_preview_file(revision.id, client=self.client)
            except RouteNotFoundException:  # removed in Kitsu since it was published: the others still go in
                gone.append(revision.id)
                continue
            entity_id = gazu.task.get_task(preview["task_id"], client=self.client)["entity_id"]
            if entity_id not in entries:
                gazu.playlist.add_entity_to_playlist(playlist, entity_id, preview_file=preview["id"],
                                                     client=self.client)
            elif entries[entity_id] != preview["id"]:
                repoint[entity_id] = preview["id"]
            entries[entity_id] = preview["id"]
        if repoint:  # read again: the shots added above are in it, and the PUT replaces the whole list
            current = gazu.playlist.get_playlist(playlist, client=self.client)
            shots = [{**e, "preview_file_id": repoint.get(e["entity_id"], e.get("preview_file_id"))}
                     for e in current.get("shots") or []]
            gazu.client.put(f"data/playlists/{playlist['id']}", {"shots": shots}, client=self.client)
        url = f"{self._web}/productions/{found['id']}/playlists/{playlist['id']}"
        details = {"project_id": found["id"], "shots": str(len(entries))}
        if gone:
            details["missing_revisions"] = " ".join(gone)
        return Revision(id=playlist["id"], url=url, details=details)

    # --- writing ---------------------------------------------------------------------------------------------------

    def _ensure_entities(self, pub: Publication, task_type: dict) -> tuple[dict, dict, dict]:
        """Project, sequence, shot and task of the publication: created when ``pub.create``
        (PROXYGEN_TRACKER_CREATE), else the first one missing is a refusal naming it."""
        def missing(what: str) -> TrackerRefused:
            return TrackerRefused(NAME, f"{what} not in Kitsu and PROXYGEN_TRACKER_CREATE is false "
                                        f"(create it in Kitsu, or set PROXYGEN_TRACKER_CREATE=true)")

        project = self._project(pub.project)
        if project is None:
            if not pub.create:
                raise missing(f"project {pub.project!r}")
            project = gazu.project.new_project(pub.project, production_type="short", client=self.client)
        sequence = self._sequence(project, pub)
        if sequence is None and pub.sequence is not None:
            if not pub.create:
                raise missing(f"sequence {pub.sequence!r} of project {pub.project!r}")
            sequence = gazu.shot.new_sequence(project, pub.sequence, client=self.client)
        shot = self._shot(project, sequence, pub)
        if shot is None:
            if not pub.create:
                raise missing(f"shot {pub.shot!r} of project {pub.project!r}")
            if sequence is None:
                raise TrackerRefused(NAME, f"shot {pub.shot!r}: the clip's identity names no sequence, and Kitsu "
                                           f"files every shot under one (add the sequence to the key template)")
            shot = gazu.shot.new_shot(project, sequence, pub.shot, nb_frames=pub.frame_count,
                                      frame_in=pub.first_frame, frame_out=pub.last_frame, client=self.client)
        task = gazu.task.get_task_by_entity(shot, task_type, client=self.client)
        if task is None:
            if not pub.create:
                raise missing(f"task {task_type['name']!r} of shot {pub.shot!r}")
            if task_type["id"] not in (project.get("task_types") or []):
                gazu.project.add_task_type(project, task_type, len(project.get("task_types") or []) + 1,
                                           client=self.client)
            task = gazu.task.new_task(shot, task_type, client=self.client)
        return project, shot, task

    def _set_project_format(self, project: dict, pub: Publication) -> None:
        """The project's fps and resolution are the clip's (Kitsu's player counts frames at the project's fps)."""
        wanted = {}
        if pub.fps > 0:
            wanted["fps"] = f"{pub.fps:g}"
        if pub.width > 0 and pub.height > 0:  # a clip row without its resolution leaves the project's
            wanted["resolution"] = f"{pub.width}x{pub.height}"
        if any(project.get(k) != v for k, v in wanted.items()):
            gazu.client.put(f"data/projects/{project['id']}", wanted, client=self.client)

    def _set_shot_range(self, shot: dict, pub: Publication) -> None:
        """Frame range, frame count and fps on the shot (Kitsu keeps frame_in/frame_out/fps in its data)."""
        data = {**(shot.get("data") or {}), "frame_in": pub.first_frame, "frame_out": pub.last_frame,
                "fps": f"{pub.fps:g}"}
        if shot.get("data") != data or shot.get("nb_frames") != pub.frame_count:
            gazu.client.put(f"data/entities/{shot['id']}", {"data": data, "nb_frames": pub.frame_count},
                            client=self.client)

    def _upload(self, preview: dict, path: Path) -> dict:
        """Upload ``path`` as the content of ``preview``; a preview zou could not process is an error."""
        if preview.get("status") != "processing":  # it has content already (a new preview is "processing")
            self._allow_reupload(preview)
        uploaded = gazu.task.upload_preview_file(preview, str(path), normalize_movie=NORMALIZE_MOVIE,
                                                 client=self.client) or {}
        # An unnormalized movie is processed inside the request whatever zou's job queue; a picture goes to the
        # queue when zou has one (ENABLE_JOB_QUEUE): wait for it, bounded.
        deadline = time.monotonic() + PROCESSING_WAIT
        while uploaded.get("status") == "processing" and time.monotonic() < deadline:
            time.sleep(1.0)
            uploaded = gazu.files.get_preview_file(preview["id"], client=self.client)
        status = uploaded.get("status")
        if status == "processing":
            raise TrackerUnavailable(NAME, f"Kitsu still processing {path.name} after {PROCESSING_WAIT:.0f} s")
        if status != "ready":
            raise TrackerRefused(NAME, f"Kitsu could not process {path.name}: preview status {status!r}")
        return dict(uploaded)

    def _allow_reupload(self, preview: dict) -> None:
        """Let a rebuild replace a preview's content under the same id (same revision, same comment).

        Zou 1.0.97 refuses an upload onto a preview file that has an ``original_name`` (the name of the first
        upload: "Reupload of an existing preview file not allowed", a bare 400) and reads it from a memoized copy
        (Redis, 4 minutes). So: clear the name (the preview's CRUD route), then move the preview to the position
        it has (``update-position``), the one route that drops the memoized copies of a revision's previews."""
        gazu.client.put(f"data/preview-files/{preview['id']}", {"original_name": ""}, client=self.client)
        gazu.client.put(f"actions/preview-files/{preview['id']}/update-position",
                        {"position": preview.get("position") or 1}, client=self.client)

    def _set_poster(self, task: dict, comment: dict, pub: Publication) -> None:
        """The poster as a second preview of the revision's comment, set as the shot's main preview (its
        thumbnail); a rebuild uploads onto the same poster preview."""
        assert pub.poster is not None
        previews = [p for p in self._previews(task, pub.version) if p.get("position", 1) > 1]
        mine = [p for p in previews if p["id"] in self._comment_previews(comment)]
        poster = mine[0] if mine else gazu.task.create_preview(task, comment, revision=pub.version,
                                                               client=self.client)
        poster = self._upload(poster, pub.poster)
        gazu.task.set_main_preview(poster, client=self.client)

    def _comment_previews(self, comment: dict) -> set[str]:
        return {p if isinstance(p, str) else p["id"] for p in comment.get("previews") or []}

    def _stray_comment(self, task: dict, pub: Publication) -> dict | None:
        """A comment of this revision without a preview (``create_revision`` was interrupted before its movie and
        could not remove it): on the task, by the user we log in as, whose first line is this publication's."""
        me = gazu.client.get_current_user(client=self.client)["id"]
        head = pub.comment.splitlines()[0] if pub.comment else ""
        for comment in gazu.task.all_comments_for_task(task, client=self.client):
            if (not self._comment_previews(comment) and comment.get("person_id") == me
                    and (comment.get("text") or "").splitlines()[:1] == [head]):
                return dict(comment)
        return None

    def _comment_of(self, task: dict, preview_id: str) -> dict:
        for comment in gazu.task.all_comments_for_task(task, client=self.client):
            if preview_id in self._comment_previews(comment):
                return dict(comment)
        raise TrackerRefused(NAME, f"preview {preview_id} has no comment on task {task['id']}: removed in Kitsu?")

    def _remove(self, comment: dict, previews: list[dict]) -> None:
        """Best effort: remove a revision this publish could not finish (its error is the one reported)."""
        for preview in previews:
            try:
                gazu.files.remove_preview_file(preview, force=True, client=self.client)
            except Exception:  # noqa: BLE001  (already failing: the first error is the one reported)
                pass
        try:
            gazu.task.remove_comment(comment, client=self.client)
        except Exception:  # noqa: BLE001
            pass
