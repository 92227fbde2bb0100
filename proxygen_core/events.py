"""``proxy.generated`` / ``proxy.failed`` events: a versioned JSON schema, and the outbox publisher.

Event ids are deterministic from what the event says (source URI, etag, render-settings hash,
status), so re-processing unchanged content yields the same id, which the outbox keeps once.
A drain first claims outbox rows (a lease), so two drains at once never send one event twice; it
publishes with an idempotent acks=all producer and marks an event sent only when its delivery report
says the broker has it. If the broker is down, events stay in the outbox until the next drain.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .catalog import Catalog, OutboxEvent

SCHEMA_VERSION = "proxygen.event/1"
GENERATED, FAILED = "proxy.generated", "proxy.failed"
CLIP_GENERATED, CLIP_FAILED = "clip.generated", "clip.failed"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def event_id(row: dict[str, Any]) -> str:
    """A UUID-shaped digest of (source URI, etag, render-settings hash, status, output profile)."""
    return _uuid_digest("|".join(str(row.get(k) or "") for k in (
        "s3_bucket", "s3_key", "etag", "render_settings_hash", "status", "output_profile")))


def build_event(row: dict[str, Any], topic: str) -> OutboxEvent:
    """The event for one catalog row (a superset of the original ProxyGeneratedEvent fields)."""
    kind = GENERATED if row["status"] == "ok" else FAILED
    bucket = row["s3_bucket"]
    uri = (lambda key: f"s3://{bucket}/{key}" if key else None)
    body = {
        "schema": SCHEMA_VERSION,
        "event_id": row.get("event_id") or event_id(row),
        "type": kind,
        "asset_id": row["asset_id"],
        "file_id": row["file_id"],
        "proxy_id": row["proxy_id"],
        "source_uri": uri(row["s3_key"]),
        "thumbnail_uri": uri(row["thumbnail_s3_key"]) if kind == GENERATED else None,
        "proxy_uri": uri(row["proxy_s3_key"]) if kind == GENERATED else None,
        "thumbnail_size_bytes": row.get("thumbnail_size_bytes"),
        "proxy_size_bytes": row.get("proxy_size_bytes"),
        "source_size_bytes": row.get("source_size_bytes"),
        "thumb_resolution": row.get("thumb_resolution"),
        "proxy_resolution": row.get("proxy_resolution"),
        "source_colorspace": row.get("source_colorspace"),
        "colorspace_rule": row.get("colorspace_rule"),
        "thumb_colorspace": row.get("thumb_colorspace"),
        "proxy_colorspace": row.get("proxy_colorspace"),
        "ocio_config": row.get("ocio_config"),
        "ocio_view": row.get("ocio_view"),
        "etag": row.get("etag"),
        "mtime": row.get("mtime"),
        "error": row.get("error"),
        "project_id": row.get("project_id"),
        "shot_id": row.get("shot_id"),
        "generator_version": row.get("generator_version"),
        "timestamp": row.get("generated_timestamp") or now_iso(),
    }
    return OutboxEvent(body["event_id"], row["proxy_id"], topic, row["asset_id"], json.dumps(body, sort_keys=True),
                       now_iso())


def _uuid_digest(basis: str) -> str:
    digest = hashlib.sha256(basis.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def clip_event_id(row: dict[str, Any]) -> str:
    """From what the clip event says: the sequence, the versions of its frames, settings, status."""
    return _uuid_digest("|".join(str(row.get(k) or "") for k in (
        "s3_bucket", "sequence", "frames_fingerprint", "render_settings_hash", "status", "output_profile")) + "|clip")


def build_clip_event(row: dict[str, Any], topic: str) -> OutboxEvent:
    kind = CLIP_GENERATED if row["status"] == "ok" else CLIP_FAILED
    bucket = row["s3_bucket"]
    body = {
        "schema": SCHEMA_VERSION, "event_id": row.get("event_id") or clip_event_id(row), "type": kind,
        "clip_id": row["clip_id"], "sequence_uri": f"s3://{bucket}/{row['sequence']}",
        "clip_uri": f"s3://{bucket}/{row['clip_s3_key']}" if kind == CLIP_GENERATED else None,
        "poster_uri": f"s3://{bucket}/{row['poster_s3_key']}" if kind == CLIP_GENERATED and row.get("poster_s3_key")
        else None,
        **{k: row.get(k) for k in ("first_frame", "last_frame", "frame_count", "fps", "start_timecode",
                                   "duration_seconds", "clip_resolution", "clip_size_bytes", "poster_frame", "error",
                                   "generator_version")},
        "missing_frames": json.loads(row.get("missing_frames") or "[]"),
        "failed_frames": json.loads(row.get("failed_frames") or "[]"),
        "timestamp": row.get("generated_timestamp") or now_iso(),
    }
    return OutboxEvent(body["event_id"], row["clip_id"], topic, row["clip_id"], json.dumps(body, sort_keys=True),
                       now_iso())


@dataclass
class PublishReport:
    attempted: int = 0
    sent: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    # A client-level failure (authentication, TLS, unreachable broker): without it every event only says
    # "Message timed out", which hides why.
    broker_error: str | None = None

    @property
    def pending(self) -> int:
        return self.attempted - self.sent


# EventSettings field -> librdkafka property: the same for the producer and the consumer.
SECURITY_PROPERTIES = {
    "kafka_security_protocol": "security.protocol", "kafka_sasl_mechanism": "sasl.mechanism",
    "kafka_sasl_username": "sasl.username", "kafka_sasl_password": "sasl.password",
    "kafka_ssl_ca_location": "ssl.ca.location", "kafka_ssl_certificate_location": "ssl.certificate.location",
    "kafka_ssl_key_location": "ssl.key.location",
}
SECRET_PROPERTIES = {"sasl.password"}


def security_config(values: dict[str, Any]) -> dict[str, str]:
    """librdkafka security properties from settings-named values (unset ones left out)."""
    config = {prop: str(values[name]) for name, prop in SECURITY_PROPERTIES.items() if values.get(name)}
    if config.get("sasl.mechanism") and not config.get("security.protocol"):
        raise ValueError("kafka_sasl_mechanism needs kafka_security_protocol SASL_PLAINTEXT or SASL_SSL")
    if config.get("sasl.mechanism") and not (config.get("sasl.username") and config.get("sasl.password")):
        raise ValueError("kafka_sasl_mechanism needs PROXYGEN_KAFKA_SASL_USERNAME and PROXYGEN_KAFKA_SASL_PASSWORD")
    return config


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """A client config safe to log or show: secrets replaced."""
    return {k: ("***" if k in SECRET_PROPERTIES else v) for k, v in config.items()}


def producer_config(bootstrap: str, idempotent: bool = True, timeout_ms: int = 10000,
                    security: dict[str, str] | None = None) -> dict[str, Any]:
    return {**(security or {}),
        "bootstrap.servers": bootstrap,
        "enable.idempotence": idempotent,
        "acks": "all",
        "message.timeout.ms": timeout_ms,
        "socket.timeout.ms": min(timeout_ms, 10000),
        "compression.type": "none",  # the VAST broker speaks Kafka without compression
        "linger.ms": 5,
    }


def drain_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def publish_pending(catalog: Catalog, config: dict[str, Any], timeout: float = 15.0, limit: int = 500,
                    lease_seconds: float | None = None) -> PublishReport:
    """Drain the outbox once. Only broker-acknowledged events are marked sent; the rest stay pending.

    Events are claimed for ``lease_seconds`` (default: the delivery timeout plus a margin) before they
    are produced; a drain that dies leaves its claim to expire, and another drain takes the events then.
    """
    from confluent_kafka import KafkaException, Producer

    report = PublishReport()
    owner = drain_owner()
    pending = catalog.claim_events(owner, limit, lease_seconds or timeout + 30.0)
    if not pending:
        return report
    acked: list[str] = []

    def on_delivery(err: Any, msg: Any, event_id: str) -> None:
        if err is None:
            acked.append(event_id)
        else:
            report.errors[event_id] = str(err)

    def on_error(err: Any) -> None:
        report.broker_error = str(err)

    producer = Producer({"error_cb": on_error, **config})
    try:
        for ev in pending:
            try:
                producer.produce(ev.topic, key=ev.message_key.encode(), value=ev.payload.encode(),
                                 headers=[("event_id", ev.event_id.encode()), ("schema", SCHEMA_VERSION.encode())],
                                 on_delivery=lambda err, msg, i=ev.event_id: on_delivery(err, msg, i))
                report.attempted += 1
            except (BufferError, KafkaException) as exc:
                report.errors[ev.event_id] = f"{type(exc).__name__}: {exc}"
            producer.poll(0)
        producer.flush(timeout)
    finally:
        # Anything still queued after the timeout is unacknowledged: it stays pending in the outbox.
        producer.purge() if hasattr(producer, "purge") else None
        producer.flush(0)
        catalog.mark_attempted(e.event_id for e in pending)
        catalog.mark_sent(acked, now_iso())
        catalog.release([e.event_id for e in pending if e.event_id not in set(acked)], owner)
    report.sent = len(acked)
    if report.broker_error:
        report.errors = {i: f"{e} (broker: {report.broker_error})" for i, e in report.errors.items()}
    return report
