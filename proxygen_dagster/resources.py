"""Resources: settings, and the bucket (built on dagster-aws S3Resource)."""
from __future__ import annotations

from functools import cached_property

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource

from proxygen_core.settings import Settings, load_settings
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

    def store(self) -> ObjectStore:
        return ObjectStore(self.s3.get_client(), self.bucket, self.cache_dir)
