"""The outbox publisher: drains the catalog's pending events to Kafka, exactly once per event.

A drain first claims outbox rows (a lease), so two drains at once never send one event twice; it
publishes with an idempotent acks=all producer and marks an event sent only when its delivery report
says the broker has it. If the broker is down, events stay in the outbox until the next drain."""
from __future__ import annotations

import functools
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxygen_core.catalog import Catalog
from proxygen_core.events.schema import SCHEMA_VERSION, now_iso

if TYPE_CHECKING:
    from proxygen_core.settings import EventSettings


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


def security_config(values: dict[str, Any]) -> dict[str, str]:
    """librdkafka security properties from settings-named values (unset ones left out)."""
    config = {prop: str(values[name]) for name, prop in SECURITY_PROPERTIES.items() if values.get(name)}
    if config.get("sasl.mechanism") and not config.get("security.protocol"):
        raise ValueError("kafka_sasl_mechanism needs kafka_security_protocol SASL_PLAINTEXT or SASL_SSL")
    if config.get("sasl.mechanism") and not (config.get("sasl.username") and config.get("sasl.password")):
        raise ValueError("kafka_sasl_mechanism needs PROXYGEN_KAFKA_SASL_USERNAME and PROXYGEN_KAFKA_SASL_PASSWORD")
    return config


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
                                 on_delivery=functools.partial(on_delivery, event_id=ev.event_id))
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



@dataclass(frozen=True)
class Publisher:
    """Where and how events go. Without bootstrap servers nothing is sent: events wait in the outbox
    (``proxygen events --pending``) until a drain with a broker."""

    bootstrap: str | None
    topic: str = "spaceharbor.proxy"
    idempotent: bool = True
    timeout_seconds: float = 10.0
    security: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, events: EventSettings, password: str | None = None) -> Publisher:
        values = {name: getattr(events, name) for name in SECURITY_PROPERTIES}
        if password is not None:
            values["kafka_sasl_password"] = password
        return cls(events.kafka_bootstrap, events.event_topic, events.idempotent_producer,
                   events.publish_timeout_seconds, security_config(values))

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap)

    def producer_config(self) -> dict[str, Any]:
        return producer_config(self.bootstrap or "", self.idempotent, int(self.timeout_seconds * 1000), self.security)

    def drain(self, catalog: Catalog) -> PublishReport | None:
        """Publish what is pending; None when no broker is configured."""
        return publish_pending(catalog, self.producer_config(), self.timeout_seconds) if self.enabled else None
