"""Event-driven trigger: S3 bucket notifications (AWS / VAST ``{"Records": [...]}``) from a Kafka topic.

Kafka offsets are kept in the sensor cursor, which Dagster stores only together with the partitions
and run requests the tick returned. The consumer group's committed offsets are advanced at the start
of the next tick, from the cursor Dagster handed back: a notification is never acknowledged before
the partitions and runs it caused were recorded.
"""
from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proxygen_core.store.inputs import Input, classify

CREATED = ("ObjectCreated:",)


@dataclass
class Notification:
    bucket: str
    key: str
    etag: str
    event: str
    time: str = ""  # the record's eventTime (ISO 8601), when it has one
    size: int | None = None  # the record's object size, when it has one


class MalformedNotification(ValueError):
    pass


def parse_notification(value: bytes | str | None) -> list[Notification]:
    """All object-created records of one message (``s3:`` prefix or not; URL-encoded keys decoded)."""
    if value is None:
        raise MalformedNotification("empty message")
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedNotification(f"not JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("Records"), list):
        raise MalformedNotification("no Records list")
    out = []
    for i, rec in enumerate(body["Records"]):
        try:
            name = str(rec["eventName"])
            name = name[3:] if name.startswith("s3:") else name
            bucket = rec["s3"]["bucket"]["name"]
            obj = rec["s3"]["object"]
            key = urllib.parse.unquote_plus(obj["key"])
        except (KeyError, TypeError) as exc:
            raise MalformedNotification(f"record {i} lacks {exc}") from exc
        if name.startswith(CREATED):
            size = obj.get("size")
            out.append(Notification(bucket, key, str(obj.get("eTag") or obj.get("etag") or ""), name,
                                    str(rec.get("eventTime") or ""), int(size) if isinstance(size, int) else None))
    return out


@dataclass
class Batch:
    notifications: list[Notification]
    offsets: dict[str, int]  # "partition" -> next offset to read
    malformed: list[str]


def consume(consumer: Any, topic: str, offsets: dict[str, int], max_messages: int, timeout: float) -> Batch:
    """Read up to ``max_messages`` from every partition of ``topic``, starting at ``offsets``."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    meta = consumer.list_topics(topic, timeout=timeout)
    if topic not in meta.topics or meta.topics[topic].error is not None:
        return Batch([], offsets, [])
    parts = sorted(meta.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, offsets.get(str(p), OFFSET_BEGINNING)) for p in parts])
    found: list[Notification] = []
    malformed: list[str] = []
    new_offsets = dict(offsets)
    deadline = time.monotonic() + timeout
    idle_polls = 0
    while len(found) + len(malformed) < max_messages and time.monotonic() < deadline and idle_polls < 3:
        msg = consumer.poll(0.3)
        if msg is None:
            idle_polls += 1
            continue
        idle_polls = 0
        if msg.error():
            continue  # partition EOF and transient errors: nothing to record
        new_offsets[str(msg.partition())] = msg.offset() + 1
        try:
            found.extend(parse_notification(msg.value()))
        except MalformedNotification as exc:
            malformed.append(f"{topic}[{msg.partition()}]@{msg.offset()}: {exc}")
    return Batch(found, new_offsets, malformed)


def commit(consumer: Any, topic: str, offsets: dict[str, int]) -> None:
    from confluent_kafka import TopicPartition

    if offsets:
        consumer.commit(offsets=[TopicPartition(topic, int(p), o) for p, o in offsets.items()], asynchronous=False)


def triage(notes: list[Notification], bucket: str, extensions: frozenset[str],
           not_before: datetime | None = None) -> tuple[list[Notification], list[tuple[Notification, Input]]]:
    """The created objects in our bucket, by the registry of inputs (store/inputs.py): the sources, and the
    ignored objects to record as ``skipped`` (never our own outputs); with ``not_before`` (start_from) only
    events from that time on (an event without a time counts: it cannot be placed before the start)."""
    def recent(n: Notification) -> bool:
        if not_before is None or not n.time:
            return True
        return datetime.fromisoformat(n.time.replace("Z", "+00:00")) >= not_before

    sources: list[Notification] = []
    ignored: list[tuple[Notification, Input]] = []
    for n in notes:
        if n.bucket != bucket or not recent(n):
            continue
        verdict = classify(n.key, extensions)
        if verdict.source:
            sources.append(n)
        elif verdict.skipped:
            ignored.append((n, verdict))
    return sources, ignored


def relevant(notes: list[Notification], bucket: str, extensions: frozenset[str],
             not_before: datetime | None = None) -> list[Notification]:
    """Created sources in our bucket (``triage``'s first half)."""
    return triage(notes, bucket, extensions, not_before)[0]
