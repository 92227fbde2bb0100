"""Consumer-side checks against the real broker."""
from __future__ import annotations

import json
import time
import uuid

SENTINEL = "proxygen-test-end"


def consume_events(bootstrap: str, topic: str, expected: int | None = None, timeout: float = 30.0) -> list[dict]:
    """Every message on ``topic`` up to its real end, bounded in time.

    The broker's high watermark can lag the last readable message (Tansu does), so the end is marked
    instead: one sentinel is produced to every partition (acks=all), after whatever the product published,
    and the topic is read until each partition's sentinel arrives. Late duplicates before the end are
    counted; nothing is guessed from a quiet period. ``expected`` only sanity-checks the count when given.
    """
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    partitions = sorted(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    assert partitions, f"topic {topic} has no partitions"
    marker = uuid.uuid4().hex
    for partition in partitions:
        producer.produce(topic, value=json.dumps({SENTINEL: marker}).encode(), partition=partition)
    assert producer.flush(15) == 0, "the end-of-topic sentinel was not acknowledged"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "group.protocol": "classic", "session.timeout.ms": 6000,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    out: list[dict] = []
    ended: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(ended) < len(partitions):
            assert time.monotonic() < deadline, f"topic {topic}: end not reached in {timeout} s ({len(out)} read)"
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            body = json.loads(msg.value())
            if isinstance(body, dict) and SENTINEL in body:
                if body[SENTINEL] == marker:
                    ended.add(msg.partition())
                continue  # an earlier check's sentinel
            headers = dict(msg.headers() or [])
            out.append({"event_id": headers.get("event_id", b"").decode(), "key": msg.key().decode(), "body": body})
    finally:
        consumer.close()
    if expected is not None:
        assert len(out) >= expected, f"{len(out)} events on {topic}, expected at least {expected}"
    return out


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(15) == 0
