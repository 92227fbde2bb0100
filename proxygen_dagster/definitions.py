"""The code location: assets, checks, job, sensors and resources per environment.

``PROXYGEN_ENV=local`` (default) talks to the SeaweedFS started by ``proxygen local``;
``production`` to the configured S3 endpoint (AWS, VAST). Both read endpoint, credentials and bucket
from the environment (EnvVar), with the variable names defined once in proxygen_core.settings.
"""
from __future__ import annotations

import os

from dagster import Definitions, EnvVar
from dagster_aws.s3 import S3Resource

from proxygen_core.settings import env_name

from .assets import SETTINGS, frame_chain
from .clips import shot_clip
from .jobs import clips_job, frames_job
from .resources import CatalogResource, EventBus, MediaStorage, ProxygenSettings
from .sensors import automation, outbox_publisher, s3_new_frames, s3_notifications, sequence_clips


def _resources(env: str) -> dict:
    s3 = S3Resource(
        endpoint_url=EnvVar(env_name("s3_endpoint_url")) if env == "local" or os.environ.get(env_name("s3_endpoint_url")) else None,
        region_name=SETTINGS.storage.s3_region,
        aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
        max_attempts=5,
    )
    storage = MediaStorage(s3=s3, bucket=EnvVar(env_name("s3_bucket")), cache_dir=SETTINGS.storage.cache_dir)
    if env == "production" and SETTINGS.catalog.catalog_backend == "vast":
        catalog = CatalogResource(backend="vast", vast_db_endpoint=EnvVar(env_name("vast_db_endpoint")),
                                  vast_db_access=EnvVar(env_name("vast_db_access")),
                                  vast_db_secret=EnvVar(env_name("vast_db_secret")),
                                  vast_db_bucket=EnvVar(env_name("vast_db_bucket")))
    elif SETTINGS.catalog.catalog_backend == "postgres":  # several hosts (any environment)
        catalog = CatalogResource(backend="postgres", postgres_dsn=EnvVar(env_name("postgres_dsn")))
    else:
        catalog = CatalogResource()
    ev = SETTINGS.events
    secret = env_name("kafka_sasl_password")
    events = EventBus(bootstrap=ev.kafka_bootstrap, topic=ev.event_topic, idempotent=ev.idempotent_producer,
                      timeout_seconds=ev.publish_timeout_seconds, notifications_topic=ev.notifications_topic,
                      notifications_group=ev.notifications_group,
                      kafka_security_protocol=ev.kafka_security_protocol, kafka_sasl_mechanism=ev.kafka_sasl_mechanism,
                      kafka_sasl_username=ev.kafka_sasl_username,
                      kafka_sasl_password=EnvVar(secret) if os.environ.get(secret) else None,
                      kafka_ssl_ca_location=ev.kafka_ssl_ca_location,
                      kafka_ssl_certificate_location=ev.kafka_ssl_certificate_location,
                      kafka_ssl_key_location=ev.kafka_ssl_key_location)
    return {
        "storage": storage,
        "catalog": catalog,
        "events": events,
        "settings": ProxygenSettings(config_path=os.environ.get("PROXYGEN_CONFIG")),
    }


ENVIRONMENTS = {"local": _resources("local"), "production": _resources("production")}

defs = Definitions(
    assets=[frame_chain, shot_clip],
    jobs=[frames_job, clips_job],
    sensors=[s3_new_frames, s3_notifications, outbox_publisher, sequence_clips, automation],
    resources=ENVIRONMENTS[os.environ.get("PROXYGEN_ENV", "local")],
)
