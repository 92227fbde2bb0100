"""Resources: settings, and the bucket (built on dagster-aws S3Resource)."""
from __future__ import annotations

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
