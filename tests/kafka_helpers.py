"""Consumer-side checks against the real broker."""
from __future__ import annotations

import json
import time
import uuid


def consume_events(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[dict]:
    """Every message on ``topic`` from the beginning (fresh group), bounded in time and count."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "group.protocol": "classic", "session.timeout.ms": 6000,
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    quiet_since = None
    try:
        while time.monotonic() < deadline and len(out) < expected + 50:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                if len(out) >= expected:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 2.0:  # wait a little for unexpected extras
                        break
                continue
            headers = dict(msg.headers() or [])
            body = json.loads(msg.value())
            out.append({"event_id": headers.get("event_id", b"").decode(), "key": msg.key().decode(), **{"body": body}})
    finally:
        consumer.close()
    return out


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(15) == 0
