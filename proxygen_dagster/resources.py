"""Resources: settings, and the bucket (built on dagster-aws S3Resource)."""
from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource

from proxygen_core.settings import Settings, load_settings
from pydantic import PrivateAttr

from proxygen_core.storage import ObjectStore


class ProxygenSettings(ConfigurableResource):
    """The typed proxygen settings (YAML path optional; environment variables apply as everywhere)."""

    config_path: str | None = None

    def load(self) -> Settings:
        return load_settings(self.config_path)


class MediaStorage(ConfigurableResource):
    """The bucket that holds sources, outputs and the pipeline's intermediates."""

    s3: S3Resource
    bucket: str
    cache_dir: str = "var/cache"

    _store: ObjectStore | None = PrivateAttr(default=None)

    def store(self) -> ObjectStore:
        """One client per resource instance: building a boto3 client costs ~150 ms."""
        if self._store is None:
            self._store = ObjectStore(self.s3.get_client(), self.bucket, self.cache_dir)
        return self._store


class CatalogResource(ConfigurableResource):
    """The proxy_outputs catalog. Unset fields fall back to the typed settings (one source of truth);
    the production environment binds the VAST and PostgreSQL connection fields to EnvVars."""

    backend: str | None = None
    sqlite_path: str | None = None
    postgres_dsn: str | None = None
    vast_db_endpoint: str | None = None
    vast_db_access: str | None = None
    vast_db_secret: str | None = None
    vast_db_bucket: str | None = None

    _catalog: Any = PrivateAttr(default=None)

    @property
    def output_profile(self) -> str:
        return self.open().profile

    def open(self) -> Any:
        """The catalog, opened (and its tables ensured) once per resource instance, not once per call."""
        if self._catalog is None:
            from dataclasses import replace

            from proxygen_core.catalog import open_catalog

            overrides = {"catalog_backend": self.backend, "sqlite_path": self.sqlite_path,
                         "postgres_dsn": self.postgres_dsn,
                         "vast_db_endpoint": self.vast_db_endpoint, "vast_db_access": self.vast_db_access,
                         "vast_db_secret": self.vast_db_secret, "vast_db_bucket": self.vast_db_bucket}
            settings = replace(load_settings().catalog, **{k: v for k, v in overrides.items() if v is not None})
            self._catalog = open_catalog(settings)
            self._catalog.profile = settings.output_profile
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
        from proxygen_core.events import SECURITY_PROPERTIES, security_config

        return security_config({name: getattr(self, name) for name in SECURITY_PROPERTIES})

    def producer_config(self) -> dict:
        from proxygen_core.events import producer_config

        return producer_config(self.bootstrap or "", self.idempotent, int(self.timeout_seconds * 1000), self.security())

    def consumer_config(self) -> dict:
        """The notification consumer: classic group protocol, offsets committed by the sensor itself."""
        return {**self.security(), "bootstrap.servers": self.bootstrap, "group.id": self.notifications_group,
                "enable.auto.commit": False, "group.protocol": "classic", "session.timeout.ms": 6000,
                "auto.offset.reset": "earliest"}
