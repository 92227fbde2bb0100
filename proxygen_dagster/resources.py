"""Resources: the bucket (built on dagster-aws S3Resource), the catalog and the event bus.

``build_resources`` maps the one settings object the definitions load onto them (secrets bound to EnvVars, so
the UI shows a variable's name, never its value); the resources themselves never read settings.

``PROXYGEN_ENV=local`` (default) talks to the SeaweedFS started by ``proxygen local``; ``production`` to the
configured S3 endpoint (AWS, VAST). Both read endpoint, credentials and bucket from the environment
(EnvVar), with the variable names defined once in proxygen_core.settings.
"""
from __future__ import annotations

import threading
from typing import Any

from dagster import ConfigurableResource, EnvVar
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from proxygen_core.catalog import Catalog, open_catalog
from proxygen_core.events.outbox import SECURITY_PROPERTIES, Publisher, security_config
from proxygen_core.settings import CatalogSettings, Settings, env_name, environ, from_environment
from proxygen_core.store.s3 import ObjectStore

_CLIENTS: dict[tuple, Any] = {}
_CLIENTS_LOCK = threading.Lock()
_MAX_CLIENTS = 8


def shared_client(s3: S3Resource) -> Any:
    """One boto3 client per S3 configuration and process. Building one costs ~50-150 ms of CPU (botocore
    loads the S3 service model); Dagster builds the resources again for every sensor tick, so the code server
    built two clients every 2 s: half of its sensor CPU during an ingest (docs/benchmarks.md). boto3's
    low-level clients are thread-safe, and credentials from a profile or the instance refresh themselves;
    a changed key, endpoint or setting is another configuration, so it gets its own client."""
    key = (s3.max_attempts, s3.region_name, s3.endpoint_url, s3.use_unsigned_session, s3.profile_name, s3.use_ssl,
           s3.verify, s3.aws_access_key_id, s3.aws_secret_access_key, s3.aws_session_token)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            if len(_CLIENTS) >= _MAX_CLIENTS:  # rotated keys: the oldest configuration goes
                del _CLIENTS[next(iter(_CLIENTS))]
            _CLIENTS[key] = s3.get_client()
        return _CLIENTS[key]


class MediaStorage(ConfigurableResource):
    """The bucket that holds sources, outputs and the pipeline's intermediates."""

    s3: S3Resource
    bucket: str
    cache_dir: str = "var/cache"

    _store: ObjectStore | None = PrivateAttr(default=None)

    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(shared_client(self.s3), self.bucket, self.cache_dir)
        return self._store


class CatalogResource(ConfigurableResource):
    """The proxy_outputs catalog; the fields mirror ``CatalogSettings`` (connection secrets as EnvVars)."""

    catalog_backend: str = "sqlite"
    sqlite_path: str = "var/catalog.db"
    postgres_dsn: str | None = None
    postgres_schema: str | None = None
    vast_db_endpoint: str | None = None
    vast_db_access: str | None = None
    vast_db_secret: str | None = None
    vast_db_bucket: str | None = None
    vast_db_schema: str = "exr_metadata"
    catalog_table: str = "proxy_outputs"
    outbox_table: str = "proxy_events"
    output_profile: str = "review"
    exr_inspector_tables: bool = False

    _catalog: Any = PrivateAttr(default=None)

    def open(self) -> Catalog:
        """The catalog, opened (and its tables ensured) once per resource instance, not once per call."""
        if self._catalog is None:
            self._catalog = open_catalog(CatalogSettings(**{name: getattr(self, name) for name in
                                                            CatalogSettings.__dataclass_fields__}))
        return self._catalog


class EventBus(ConfigurableResource):
    """Kafka for proxy events (and S3 notifications). No bootstrap: events wait in the outbox."""

    bootstrap: str | None = None
    topic: str = "spaceharbor.proxy"
    idempotent: bool = True
    timeout_seconds: float = 10.0
    notifications_topic: str | None = None
    notifications_group: str = "proxygen-notifications"
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None  # bound to an EnvVar: the UI shows the variable's name, not the value
    kafka_ssl_ca_location: str | None = None
    kafka_ssl_certificate_location: str | None = None
    kafka_ssl_key_location: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap)

    def security(self) -> dict:
        return security_config({name: getattr(self, name) for name in SECURITY_PROPERTIES})

    def publisher(self) -> Publisher:
        """The core's publisher (the record stage and the outbox drain use it)."""
        return Publisher(self.bootstrap, self.topic, self.idempotent, self.timeout_seconds, self.security())

    def producer_config(self) -> dict:
        return self.publisher().producer_config()

    def consumer_config(self) -> dict:
        """The notification consumer: classic group protocol, offsets committed by the sensor itself."""
        return {**self.security(), "bootstrap.servers": self.bootstrap, "group.id": self.notifications_group,
                "enable.auto.commit": False, "group.protocol": "classic", "session.timeout.ms": 6000,
                "auto.offset.reset": "earliest"}


def _secret(name: str, value: str | None) -> EnvVar | str | None:
    """A secret that came from the environment stays bound to its variable (the UI shows the name only)."""
    return EnvVar(env_name(name)) if from_environment(name, value) else value


def build_resources(settings: Settings, env: str) -> dict:
    """The resources for these settings; ``env`` is the deployment (``PROXYGEN_ENV``: local or production)."""
    storage = settings.storage
    s3 = S3Resource(
        endpoint_url=EnvVar(env_name("s3_endpoint_url"))
        if env == "local" or environ(env_name("s3_endpoint_url"))
        else storage.s3_endpoint_url,
        region_name=storage.s3_region,
        aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
        max_attempts=5,
    )
    bucket = EnvVar(env_name("s3_bucket")) if environ(env_name("s3_bucket")) else storage.s3_bucket
    cat = settings.catalog
    secrets = ("postgres_dsn", "vast_db_endpoint", "vast_db_access", "vast_db_secret", "vast_db_bucket")
    fields: dict[str, Any] = {name: _secret(name, getattr(cat, name)) if name in secrets else getattr(cat, name)
                              for name in CatalogResource.model_fields}
    catalog = CatalogResource(**fields)
    ev = settings.events
    events = EventBus(bootstrap=ev.kafka_bootstrap, topic=ev.event_topic, idempotent=ev.idempotent_producer,
                      timeout_seconds=ev.publish_timeout_seconds, notifications_topic=ev.notifications_topic,
                      notifications_group=ev.notifications_group,
                      kafka_security_protocol=ev.kafka_security_protocol, kafka_sasl_mechanism=ev.kafka_sasl_mechanism,
                      kafka_sasl_username=ev.kafka_sasl_username,
                      kafka_sasl_password=_secret("kafka_sasl_password", ev.kafka_sasl_password),
                      kafka_ssl_ca_location=ev.kafka_ssl_ca_location,
                      kafka_ssl_certificate_location=ev.kafka_ssl_certificate_location,
                      kafka_ssl_key_location=ev.kafka_ssl_key_location)
    return {"storage": MediaStorage(s3=s3, bucket=bucket, cache_dir=storage.cache_dir), "catalog": catalog,
            "events": events}
