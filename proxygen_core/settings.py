"""The one source of truth for configuration: typed sections read from YAML and the environment.

Precedence: defaults < YAML file (``PROXYGEN_CONFIG`` or an explicit path) < environment variables
(``PROXYGEN_<FIELD>``) < explicit overrides (CLI flags). ``$OCIO`` is honoured when
``PROXYGEN_OCIO_CONFIG`` is not set, as every OCIO-aware tool does. Every field is listed in
docs/configuration.md; the Dagster layer reads this same object instead of keeping its own constants.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxygen_core.profiles import DEFAULT_TEMPLATE as DEFAULT_BURNIN_TEMPLATE
from proxygen_core.profiles import (
    HDR_DISPLAY,
    HDR_VIEW,
    PRIMARY,
    PROFILES,
    ClipProfile,
    parse_pad,
    parse_profiles,
    parse_rasters,
    parse_template,
)
from proxygen_core.show_colour import check_at_load, check_hdr_at_load, parse_looks, parse_show_configs
from proxygen_core.store.identity import DEFAULT_KEY_ROOT, DEFAULT_KEY_TEMPLATES, KeyLayout

DEFAULT_OCIO_CONFIG = "ocio://studio-config-v4.0.0_aces-v2.0_ocio-v2.5"
GENERATOR = "proxygen"
# Where a sequence's grade may come from (colour/grades.py ``SOURCES`` has one function per name; the cut
# issue's EDL adds a name here and its function there), the default order and the CDL's process space.
GRADE_SOURCES = ("metadata", "cc", "ccc", "edl")
DEFAULT_GRADE_SOURCES = "metadata,cc,ccc,edl"
DEFAULT_GRADE_SPACE = "ACEScct"


def parse_grade_sources(text: str) -> tuple[str, ...]:
    """``metadata,cc,ccc`` -> the names in order, each one of ``GRADE_SOURCES`` (an unknown one is refused at
    load); "none" or "" turns grades off."""
    names = tuple(p.strip().lower() for p in text.split(",") if p.strip() and p.strip().lower() != "none")
    unknown = [n for n in names if n not in GRADE_SOURCES]
    if unknown:
        raise ValueError(f"{text!r}: unknown grade source(s) {', '.join(unknown)} "
                         f"(known: {', '.join(GRADE_SOURCES)})")
    return names


def _check(section: Any, name: str, parse: Any) -> None:
    """Parse a field's text at load; a refusal names the field (``load_settings`` adds its variable)."""
    try:
        parse(getattr(section, name))
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


# The memory budget picks the whole-image or the striped render, whose pixels are the same to float rounding
# (tests/test_memory_budget.py): changing it must not mark every output stale.
UNHASHED = frozenset({"max_frame_memory"})
# Fields added after outputs were made: left out of the hash while at their default, so an upgrade that adds one
# does not mark every output stale (setting one to another value is a change like any other).
HASHED_WHEN_SET = {"hdr_display": HDR_DISPLAY, "hdr_view": HDR_VIEW}


@dataclass(frozen=True)
class RenderSettings:
    """Everything that changes the pixels of an output (hashed into the render-settings hash)."""

    ocio_config: str = DEFAULT_OCIO_CONFIG
    working_colorspace: str = "ACEScg"
    thumb_display: str = "sRGB - Display"
    proxy_display: str = "Rec.1886 Rec.709 - Display"
    view: str = "ACES 2.0 - SDR 100 nits (Rec.709)"
    # the PQ display and view the hdr_pq profile renders through (checked in the config at load when hdr_pq is
    # enabled; a show config may name its own, show_colour.py)
    hdr_display: str = HDR_DISPLAY
    hdr_view: str = HDR_VIEW
    display_transform: str = "lut"  # lut (baked 3D LUT, checked at bake time; docs/colour.md) | exact
    display_lut_size: int = 129
    display_referred_view: str = "Un-tone-mapped"
    source_colorspace: str | None = None
    default_float_colorspace: str = "ACEScg"
    default_integer_colorspace: str = "sRGB Encoded Rec.709 (sRGB)"
    thumb_size: int = 256
    proxy_max_width: int = 1920
    proxy_max_height: int = 1080
    resize_filter: str = "box"
    jpeg_quality: int = 90
    x264_preset: str = "veryfast"
    x264_crf: int = 18
    fps: int = 24
    preview_enabled: bool = False
    preview_quality: int = 90
    max_pixels: int = 16384 * 16384
    # MiB one render may bring the process's whole RSS to (the documented 2 GiB render slot): a frame above it
    # is rendered in stripes, or refused as too_large where it cannot be (proxygen_core/media/memory.py)
    max_frame_memory: int = 2048
    review_layers: str = ",beauty,rgba"  # multi-layer EXRs: layers to show, in order ("" = unnamed R,G,B)
    clip_gap_policy: str = "hold"  # hold | black | checkerboard: what a missing or failed frame shows
    clip_keyframe_interval: int = 12  # frames between keyframes of a clip (every frame stays seekable)
    clip_poster_frame: int | None = None  # a frame number for every clip's poster (default: the middle frame)
    clip_burnins: bool = False  # burn-ins on every profile's pictures (else only on clip_burnin_profiles)
    clip_burnin_profiles: str = ""  # profiles that carry burn-ins when clip_burnins is off (e.g. "review")
    # position=text pairs: positions top_/bottom_ left/center/right; fields in docs/sequences.md
    clip_burnin_template: str = DEFAULT_BURNIN_TEMPLATE
    # per profile, the raster its files are delivered at: the picture fitted inside, letterboxed or
    # pillarboxed with clip_raster_pad (R,G,B display code values), e.g. "prores_422hq=1920x1080"
    clip_raster: str = ""
    clip_raster_pad: str = "0,0,0"
    # working frames carry the source's alpha (set automatically when an enabled clip profile has alpha:
    # prores_4444), so a deliverable can carry it too
    working_alpha: bool = False

    def __post_init__(self) -> None:
        _check(self, "clip_burnin_template", parse_template)
        _check(self, "clip_burnin_profiles", parse_profiles)
        _check(self, "clip_raster", parse_rasters)
        _check(self, "clip_raster_pad", parse_pad)

    def rasters(self) -> dict[str, tuple[int, int]]:
        """Profile -> (width, height) of the raster its files are delivered at (unlisted: the picture's size)."""
        return parse_rasters(self.clip_raster)

    def raster_pad(self) -> tuple[float, float, float]:
        return parse_pad(self.clip_raster_pad)

    def burned_profiles(self) -> frozenset[str]:
        """The profiles whose pictures carry burn-ins: every one with ``clip_burnins``, else those listed."""
        if self.clip_burnins:
            return frozenset(PROFILES)
        return frozenset(p.name for p in parse_profiles(self.clip_burnin_profiles))

    def review_layer_order(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.review_layers.split(","))

    def settings_hash(self) -> str:
        """Short stable hash; a change marks outputs stale (Dagster code version, catalog column). Fields that
        change how a frame is rendered but not its pixels (``UNHASHED``) are left out."""
        payload = json.dumps({k: v for k, v in dataclasses.asdict(self).items()
                              if k not in UNHASHED and not (k in HASHED_WHEN_SET and HASHED_WHEN_SET[k] == v)},
                             sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class StorageSettings:
    """Object storage. Credentials come from the standard AWS variables (boto3 reads them too)."""

    s3_endpoint_url: str | None = None
    s3_bucket: str = "frames"
    s3_region: str = "us-east-1"
    cache_dir: str = "var/cache"


WORKING_COMPRESSIONS = ("piz", "zip", "zips", "rle", "none")  # lossless EXR compressions only
WORKING_RETENTIONS = ("until_clips", "keep", "none")
RENAMED = {"keep_working_frames": "use working_retention (PROXYGEN_WORKING_RETENTION): true is keep, false is none; "
                                  "the default, until_clips, keeps a sequence frame's until its clips are built",
           "key_template": "use key_templates (PROXYGEN_KEY_TEMPLATES): one or more templates separated by ';' or "
                           "newlines, tried in order and matched against the WHOLE key after key_root "
                           "(PROXYGEN_KEY_ROOT, default shows/), no longer against its end; check a layout with "
                           "`proxygen identity KEY`, then re-read existing rows with `proxygen identity --rederive` "
                           "(docs/configuration.md, Shot identity)"}


@dataclass(frozen=True)
class PipelineSettings:
    """How new keys are found and batched into runs."""

    extensions: str = ".exr,.dpx,.tif,.tiff,.png,.jpg,.jpeg"
    prefix: str = ""
    batch_size: int = 24  # measured: 24 beats 16 by 5 points of overhead on a 240-frame ingest
    batch_settle_seconds: float = 10.0  # a burst's last partial batch runs once no new key came for this long
    batch_max_wait_seconds: float = 60.0  # ... or once its oldest key has waited this long
    max_keys_per_tick: int = 5000
    sensor_interval_seconds: int = 5  # the discovery sensors (s3_new_frames, s3_notifications): a new upload's wait
    # The sensors that follow finished work (sequence_clips, cut_conform, follow_upstream, tracker_publisher): a clip
    # waits clip_settle_seconds plus at most this. Each tick costs ~0.15 CPU-s across the daemon and the code server
    # (docs/benchmarks.md, "An idle stack"): at 5 s these four alone kept a tenth of a core busy on an idle stack.
    followup_sensor_interval_seconds: int = 30
    # keep | until_clips | none. until_clips: a source with a frame number keeps its working EXR until every
    # enabled clip profile of its sequence is built (then it is deleted); lone stills keep none. keep: every
    # source keeps its latest one (partial re-runs without a re-decode). none: never kept (clips re-decode).
    working_retention: str = "until_clips"
    # Deliverables made per image sequence, from the working frames: review (H.264), prores_422hq,
    # prores_4444, dnxhr_hqx, hevc_main10, hdr_pq (docs/sequences.md, "Deliverables").
    clip_profiles: str = "review"
    # Profiles whose files start with a slate (one picture before the first frame, timecode one earlier):
    # the editorial ones by default. Only enabled profiles are made, so this never adds a deliverable.
    clip_slates: str = "prores_422hq,prores_4444,dnxhr_hqx"
    working_compression: str = (
        "piz"  # lossless: piz (7.4 MB at 2K, 100 ms) or none (11.7 MB, 25 ms); docs/benchmarks.md
    )
    transient_retry_seconds: float = 90.0  # per key: how long S3 outages are retried inside a step
    step_retries: int = 3  # then the step is retried this many times (Dagster RetryRequested)
    step_retry_wait_seconds: float = 20.0
    sequence_frame_proxies: bool = True  # false: frames with a frame number get no public per-frame MP4
    clip_settle_seconds: float = 30.0  # a sequence is built this long after its last new or finished frame
    # beginning | now | an ISO 8601 time: objects last modified before it are never requested. "now" is the
    # moment the sensor first runs (kept in its cursor): the production setting for an existing bucket.
    start_from: str = "beginning"
    # Shot identity read from each key (docs/configuration.md, "Shot identity"): templates separated by ";" or
    # newlines, tried in order, each a format string with {show} {sequence} {shot} {task} {version} {frame} (and
    # any other {name}) or a regex with those named groups, matched against the whole key after key_root.
    key_templates: str = DEFAULT_KEY_TEMPLATES
    key_root: str = DEFAULT_KEY_ROOT  # "" for the bucket root; a key outside it has no identity
    dailies_hour: int = 20  # UTC hour at which the day's review is assembled (the dailies schedule)
    dailies_slate_seconds: float = 1.0  # each shot's slate card in the dailies playlist
    # Per-shot grades (ASC CDL) on the clips (docs/colour.md, "Grades and looks"): where to look, in order
    # (metadata, cc, ccc; "none" for no grades), and the space the CDL is applied in. A plan decision, in the
    # build's fingerprint, not in the render-settings hash: a grade changes the clips, never the frames.
    grade_sources: str = DEFAULT_GRADE_SOURCES
    grade_space: str = DEFAULT_GRADE_SPACE
    # A show's facility OCIO config for its clips, ``show=config|display|view;...`` (a path, an ocio:// name or
    # s3://bucket/key), and named looks from the config, ``show=Look;*=Look`` (proxygen_core/show_colour.py):
    # a path or built-in config lacking the display, view, working space or a look is refused at load.
    show_configs: str = ""
    looks: str = ""
    # true: each sequence frame's own thumbnail, proxy and preview are graded too (its grade looked up per frame;
    # frames rendered from then on: not in the render-settings hash). Clips are always graded.
    grade_frames: bool = False
    # Editorial cuts (docs/editorial.md): keys under this prefix are cuts (EDL, OTIO, FCP XML, AAF), not frames
    editorial_prefix: str = "editorial/"
    cut_match: str = "clip_name,source_file,locator,reel"  # what names an event's shot, tried in order
    cut_version: str = "latest"  # latest | pinned (cut_pins: sh010=2,sh020=1) | approved (needs a tracker)
    cut_pins: str = ""
    otio_media: str = "relative"  # relative (paths from the OTIO file) | presigned (HTTPS URLs)

    def __post_init__(self) -> None:
        if self.working_compression not in WORKING_COMPRESSIONS:
            raise ValueError(f"working_compression {self.working_compression!r}: one of "
                             f"{', '.join(WORKING_COMPRESSIONS)} (the intermediate must stay lossless)")
        self.start_moment()  # refuse a start_from that is neither a word nor a time, at load
        _check(self, "key_templates", lambda _: self.key_layout())  # a broken template is refused at load
        if self.working_retention not in WORKING_RETENTIONS:
            raise ValueError(f"working_retention {self.working_retention!r}: one of {', '.join(WORKING_RETENTIONS)}")
        _check(self, "clip_profiles", parse_profiles)
        _check(self, "clip_slates", parse_profiles)
        _check(self, "grade_sources", parse_grade_sources)
        _check(self, "show_configs", parse_show_configs)
        _check(self, "looks", parse_looks)
        if self.otio_media not in ("relative", "presigned"):
            raise ValueError(f"otio_media {self.otio_media!r}: relative or presigned")
        for name in ("sensor_interval_seconds", "followup_sensor_interval_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} {getattr(self, name)}: at least 1 (seconds between a sensor's ticks)")
        if self.cut_version not in ("latest", "pinned", "approved"):
            raise ValueError(f"cut_version {self.cut_version!r}: latest, pinned or approved")

    def profiles(self) -> tuple[ClipProfile, ...]:
        return parse_profiles(self.clip_profiles)

    def editorial_folder(self, show: str) -> str:
        """A show's cuts' folder, relative to the bucket (``editorial/<show>/``): its cuts' shot grades are there."""
        return f"{self.editorial_prefix.rstrip('/')}/{show}/"

    def key_layout(self) -> KeyLayout:
        """The key templates and root as ``identify`` takes them (store/identity.py)."""
        return KeyLayout.parse(self.key_templates, self.key_root)

    def slated(self) -> tuple[ClipProfile, ...]:
        """The enabled profiles that get a slate."""
        names = {p.name for p in parse_profiles(self.clip_slates)}
        return tuple(p for p in self.profiles() if p.name in names)

    def keeps_working(self, frame_number: int | None) -> bool:
        """Whether a source's working frame is stored after its chain (the retention rule, in one place)."""
        keep, until_clips = self.working_retention == "keep", self.working_retention == "until_clips"
        return keep or (until_clips and frame_number is not None)

    def start_moment(self, now: datetime | None = None) -> datetime | None:
        """The first LastModified (or event time) that counts; None for the beginning of the bucket."""
        if self.start_from == "beginning":
            return None
        if self.start_from == "now":
            return (now or datetime.now(UTC)).astimezone(UTC)
        try:
            moment = datetime.fromisoformat(self.start_from.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"start_from {self.start_from!r}: beginning, now or an ISO 8601 time "
                             "(2026-11-29T18:00:00+00:00)") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def extension_set(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.extensions.split(",") if e.strip())


@dataclass(frozen=True)
class CatalogSettings:
    """Where rows go. VAST credentials are read from the environment, never from YAML in a repo."""

    catalog_backend: str = "sqlite"  # sqlite | postgres | vast
    sqlite_path: str = "var/catalog.db"
    postgres_dsn: str | None = None  # libpq DSN or URL; holds a password: environment only
    # the PostgreSQL schema of every catalog table (created when missing); unset: the server's search_path (public)
    postgres_schema: str | None = None
    vast_db_endpoint: str | None = None
    vast_db_access: str | None = None
    vast_db_secret: str | None = None
    vast_db_bucket: str | None = None
    vast_db_schema: str = "exr_metadata"
    catalog_table: str = "proxy_outputs"
    outbox_table: str = "proxy_events"
    output_profile: str = "review"
    # also write exr-inspector-compatible `files` and `parts` rows (EXRs only) beside proxy_outputs, in the same
    # schema, so the seed README's JOIN on file_id works on every backend (docs/catalog.md)
    exr_inspector_tables: bool = False


@dataclass(frozen=True)
class ExecutionSettings:
    """Where a run's steps execute: in the run's own process (one host) or as Celery tasks on worker hosts."""

    executor: str = "in_process"  # in_process | celery
    celery_broker: str = "redis://127.0.0.1:6379/0"  # Redis that the run and every worker host reach
    celery_backend: str | None = None  # result backend; default: the broker
    render_queue: str = "render"  # queue of the frame steps (decode, colour, encode): CPU-heavy
    io_queue: str = "io"  # queue of the light steps (shot clips, publishing)
    worker_concurrency: int = 1  # tasks one worker host runs at once (a frame step uses ~1.3 cores)
    redelivery_seconds: int = 300  # a task whose worker died goes to another host after this (Redis visibility)
    host_name: str | None = None  # how this host names itself in step metadata; default: the hostname
    # Infrastructure failures (not broken frames) POST one JSON each here (Slack/Teams-compatible "text"):
    # docs/operations.md, "Alerts". Unset: they are tagged and logged by the failure_alerts sensor only.
    alert_webhook_url: str | None = None


@dataclass(frozen=True)
class EventSettings:
    """Kafka. With no bootstrap servers, events wait in the outbox (see ``proxygen events``)."""

    kafka_bootstrap: str | None = None
    event_topic: str = "spaceharbor.proxy"
    idempotent_producer: bool = True  # set false for brokers without InitProducerId (VAST event broker)
    publish_timeout_seconds: float = 10.0
    notifications_topic: str | None = None  # S3 bucket notifications ({"Records": [...]}) to trigger on
    notifications_group: str = "proxygen-notifications"
    notifications_max_messages: int = 1000
    # Authentication for studio clusters (passed to the producer and the notification consumer).
    kafka_security_protocol: str | None = None  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    kafka_sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None  # a secret: set it in the environment, never in a YAML in a repo
    kafka_ssl_ca_location: str | None = None  # CA bundle to verify the brokers (SSL / SASL_SSL)
    kafka_ssl_certificate_location: str | None = None  # client certificate (mutual TLS)
    kafka_ssl_key_location: str | None = None


@dataclass(frozen=True)
class RetentionSettings:
    """How long history is kept (the ``proxygen_retention`` job, docs/operations.md "Retention"); 0 keeps it all.

    Dagster's home otherwise grows with every run and the catalog's history with every replaced row, forever."""

    run_retention_days: int = 90  # finished runs (and their event log) last updated before this are deleted
    log_retention_days: int = 14  # compute log files (stdout/stderr of steps) older than this are deleted
    history_retention_days: int = 90  # catalog history rows replaced, and outbox events sent, before this
    retention_hour: int = 3  # UTC hour of the daily retention schedule
    # frame partitions kept live in Dagster (the newest by their catalog row); older ones retire: the catalog keeps
    # every row, history and output, and a retired key is re-processed by key (docs/operations.md). 0: keep all
    live_frame_partitions: int = 100_000
    retire_per_pass: int = 200_000  # partitions one retention pass may retire (bounded work per run)

    def __post_init__(self) -> None:
        for name in ("run_retention_days", "log_retention_days", "history_retention_days", "live_frame_partitions",
                     "retire_per_pass"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} {getattr(self, name)!r}: a number of days, 0 or more (0 keeps everything)")
        if not 0 <= self.retention_hour <= 23:
            raise ValueError(f"retention_hour {self.retention_hour!r}: an hour of the day in UTC, 0 to 23")


TRACKERS = ("none", "kitsu", "shotgrid", "ftrack", "ayon")


@dataclass(frozen=True)
class TrackerSettings:
    """Where review clips are published (docs/trackers.md). Secrets (passwords, keys) from the environment only.

    One revision per (shot, task, version) of ``tracker_profile``: a rebuild of the same version updates that
    revision's preview; a tracker that is down is retried with backoff (the clip row says ``pending``)."""

    tracker: str = "none"  # none | kitsu | shotgrid | ftrack | ayon
    tracker_profile: str = "review"  # the clip profile published (its movie and poster)
    tracker_create: bool = False  # create a missing project, sequence, shot or task; false: refuse the publish
    tracker_task_type: str | None = None  # default: the identity's task, matched to the tracker's task types
    tracker_status: str = "wfa"  # the status the revision sets on its task (Kitsu short name; ShotGrid code)
    tracker_approved: str = "approved,apr,done"  # the review statuses that approve a revision (cut_version=approved)
    tracker_review_seconds: float = 60.0  # how often the cut sensor reads the cuts' revisions' review status
    tracker_retry_seconds: float = 30.0  # first wait after a tracker was unreachable, doubled per attempt
    tracker_retry_max_seconds: float = 3600.0
    kitsu_url: str | None = None  # zou's API root, e.g. https://kitsu.studio/api (a bare zou: http://host:port)
    kitsu_user: str | None = None
    kitsu_password: str | None = None
    kitsu_web_url: str | None = None  # Kitsu's web app, for the links; default: kitsu_url without its /api
    shotgrid_url: str | None = None
    shotgrid_script: str | None = None
    shotgrid_key: str | None = None
    ftrack_url: str | None = None
    ftrack_user: str | None = None
    ftrack_key: str | None = None
    ayon_url: str | None = None
    ayon_key: str | None = None

    def __post_init__(self) -> None:
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker {self.tracker!r}: one of {', '.join(TRACKERS)}")
        _check(self, "tracker_profile", parse_profiles)
        if len(parse_profiles(self.tracker_profile)) != 1:
            raise ValueError(f"tracker_profile {self.tracker_profile!r}: one clip profile")

    @property
    def enabled(self) -> bool:
        return self.tracker != "none"

    def is_approved(self, status: str | None) -> bool:
        """Whether a revision's review status (as the tracker names it, ClipRow.tracker_review) approves it:
        one of ``tracker_approved``, case-insensitively (Kitsu ``done``, ShotGrid ``apr``, ftrack/AYON
        ``Approved``)."""
        wanted = {s.strip().lower() for s in self.tracker_approved.split(",") if s.strip()}
        return bool(status) and str(status).strip().lower() in wanted


@dataclass(frozen=True)
class Settings:
    render: RenderSettings = field(default_factory=RenderSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    events: EventSettings = field(default_factory=EventSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    trackers: TrackerSettings = field(default_factory=TrackerSettings)

    def with_render(self, **overrides: Any) -> Settings:
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, render=replace(self.render, **clean))

    def clips_from_planes(self, profiles: tuple[ClipProfile, ...] | None = None) -> bool:
        """Whether a sequence's clips (the enabled ``profiles``) are all encoded from its frames' review planes:
        the review clip alone, without burn-ins, slate or raster. A grade on the shot, which only the sequence's
        plan knows, still sends it to the working frames (pipeline/sequence/plan.py)."""
        names = [p.name for p in (self.pipeline.profiles() if profiles is None else profiles)]
        return (names == [PRIMARY] and PRIMARY not in self.render.burned_profiles()
                and PRIMARY not in {p.name for p in self.pipeline.slated()} and PRIMARY not in self.render.rasters())

    def stores_working(self, frame_number: int | None) -> bool:
        """Whether a source's working frame is written after its chain: the retention rule, except that under
        ``until_clips`` no frame is written that its clips would not read (``clips_from_planes``): ~7 MB a 2K
        frame to the store and ~0.15 CPU-s of piz each way, for nothing (docs/benchmarks.md). A clip or cut
        that wants one after all (a grade, a cut) decodes the source again."""
        if not self.pipeline.keeps_working(frame_number):
            return False
        return not (self.pipeline.working_retention == "until_clips" and self.clips_from_planes())


def _coerce(value: Any, annotation: Any) -> Any:
    """Turn YAML/env text into the field's declared type (bool, int, float, str, optional)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
            return None
        return _coerce(value, args[0])
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if annotation in (int, float, str):
        return annotation(value)
    return value


def env_name(field_name: str) -> str:
    """The environment variable of a settings field; the Dagster layer's EnvVars use these names."""
    return f"PROXYGEN_{field_name.upper()}"


def _section(cls: type, yaml_values: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    kwargs: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)  # the annotations are postponed strings: resolved, never evaluated here
    for f in fields(cls):
        var = env_name(f.name)
        if var in env:
            raw: Any = env[var]
        elif f.name in yaml_values:
            raw = yaml_values[f.name]
        else:
            continue
        try:
            kwargs[f.name] = _coerce(raw, hints[f.name])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"configuration {f.name} ({var}): {exc}") from exc
    unknown = set(yaml_values) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown configuration keys in section {cls.__name__}: {sorted(unknown)}")
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a value the section refuses: name the variable that set it
        name = str(exc).split(" ", 1)[0]
        if name in {f.name for f in fields(cls)}:
            raise ValueError(f"configuration {name} ({env_name(name)}): {str(exc).split(' ', 1)[1]}") from exc
        raise


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    path = path or env.get("PROXYGEN_CONFIG")
    data: dict[str, Any] = {}
    if path:
        import yaml

        if not Path(path).is_file():  # a clear line from every command (main prints ValueErrors), no traceback
            raise ValueError(f"no settings file at {Path(path).absolute()} (--config or PROXYGEN_CONFIG)")
        data = yaml.safe_load(Path(path).read_text()) or {}
        catalog = data.get("catalog") or {}
        if catalog.get("sqlite_path") and not Path(str(catalog["sqlite_path"])).is_absolute():
            # Relative to the settings file, not to whichever folder a command happens to start in.
            catalog["sqlite_path"] = str(Path(path).resolve().parent / str(catalog["sqlite_path"]))
    env = dict(env)
    for old, new in RENAMED.items():  # a setting that was renamed is refused, never silently ignored
        if env_name(old) in env or old in (data.get("pipeline") or {}):
            raise ValueError(f"configuration {old} ({env_name(old)}) was renamed: {new}")
    if "PROXYGEN_OCIO_CONFIG" not in env and env.get("OCIO") and "ocio_config" not in data.get("render", {}):
        env["PROXYGEN_OCIO_CONFIG"] = env["OCIO"]
    sections = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(Settings)
    for name in sections:
        values[name] = _section(hints[name], data.get(name) or {}, env)
    unknown = set(data) - set(sections)
    if unknown:
        raise ValueError(f"unknown configuration sections: {sorted(unknown)}")
    return check_deployment(with_alpha_if_needed(Settings(**values)))


def with_alpha_if_needed(settings: Settings) -> Settings:
    """A deliverable with alpha needs it in the working frames it is made from: enabling one turns
    ``working_alpha`` on (a render setting, so the frames are rendered once more, now with their alpha)."""
    if any(p.alpha_pix_fmt for p in settings.pipeline.profiles()) and not settings.render.working_alpha:
        return replace(settings, render=replace(settings.render, working_alpha=True))
    return settings


def check_deployment(settings: Settings) -> Settings:
    """Refuse combinations that would lose rows or runs: a SQLite file cannot be shared by worker hosts."""
    if settings.execution.executor not in ("in_process", "celery"):
        raise ValueError(f"unknown executor {settings.execution.executor!r} (in_process or celery)")
    if settings.execution.executor == "celery" and settings.catalog.catalog_backend == "sqlite":
        raise ValueError("PROXYGEN_EXECUTOR=celery runs steps on several hosts, but the catalog is SQLite, a file on "
                         "one host: set PROXYGEN_CATALOG_BACKEND=postgres with PROXYGEN_POSTGRES_DSN (or vast)")
    if settings.catalog.catalog_backend == "postgres" and not settings.catalog.postgres_dsn:
        raise ValueError("catalog_backend=postgres needs PROXYGEN_POSTGRES_DSN")
    pipeline, render = settings.pipeline, settings.render
    hdr = (render.hdr_display, render.hdr_view) if any(p.hdr for p in pipeline.profiles()) else None
    if hdr is not None:
        try:
            check_hdr_at_load(render.ocio_config, *hdr)
        except ValueError as exc:
            raise ValueError(f"configuration hdr_display / hdr_view (PROXYGEN_HDR_DISPLAY / PROXYGEN_HDR_VIEW), "
                             f"needed by the hdr_pq profile: {exc}") from None
    if pipeline.cut_version == "approved" and not settings.trackers.enabled:
        raise ValueError("cut_version=approved (PROXYGEN_CUT_VERSION) takes the versions a tracker approved: set "
                         "PROXYGEN_TRACKER (kitsu, shotgrid, ftrack or ayon) with its URL and credentials")
    if pipeline.show_configs or pipeline.looks:
        try:
            check_at_load(pipeline.show_configs, pipeline.looks, render.ocio_config, render.proxy_display, render.view,
                          render.working_colorspace, hdr)
        except ValueError as exc:
            raise ValueError(f"configuration show_configs / looks (PROXYGEN_SHOW_CONFIGS / PROXYGEN_LOOKS): {exc}") \
                from None
    return settings


# The process environment outside the settings sections: every read of it goes through these, so that what
# the product reads from its environment is listed in one place (docs/configuration.md, "Environment").
_CHECKOUT = Path(__file__).resolve().parents[1]


def environ(name: str, default: str | None = None) -> str | None:
    """One variable of the process environment, read now (not at import: tests and launchers set them)."""
    return os.environ.get(name, default)


def from_environment(field_name: str, value: Any) -> bool:
    """Whether a field's value came from its environment variable: secrets that did stay bound to their
    variable in Dagster's stored definitions (the UI shows the variable's name, never the value)."""
    return value is not None and os.environ.get(env_name(field_name)) == value


def deployment() -> str:
    """``$PROXYGEN_ENV``: ``local`` (the embedded stack's endpoints) or ``production``."""
    return os.environ.get("PROXYGEN_ENV", "local")


def lut_cache_dir() -> Path:
    """``$PROXYGEN_LUT_CACHE_DIR``, else ``$XDG_CACHE_HOME/proxygen`` (``~/.cache/proxygen``)."""
    if os.environ.get("PROXYGEN_LUT_CACHE_DIR"):
        return Path(os.environ["PROXYGEN_LUT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "proxygen"


def config_home() -> Path:
    """``$XDG_CONFIG_HOME/proxygen`` (``~/.config/proxygen``): the account's pointer to its last local stack."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "proxygen"


def instance_file() -> Path:
    """The Dagster instance file ``proxygen local`` starts from: ``$PROXYGEN_INSTANCE_YAML``, else the checkout's."""
    return Path(os.environ.get("PROXYGEN_INSTANCE_YAML") or _CHECKOUT / "dagster.yaml")


def cluster_file() -> Path:
    """The farm's instance file: ``$PROXYGEN_CLUSTER_YAML``, else the checkout's ``deploy/dagster.cluster.yaml``
    (an installed package, e.g. the container image, names its own)."""
    return Path(os.environ.get("PROXYGEN_CLUSTER_YAML") or _CHECKOUT / "deploy" / "dagster.cluster.yaml")
