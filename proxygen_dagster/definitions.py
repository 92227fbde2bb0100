"""The code location: loads the settings once and assembles assets, checks, jobs, sensors and resources.

``PROXYGEN_ENV=local`` (default) talks to the SeaweedFS started by ``proxygen local``; ``production`` to the
configured S3 endpoint (AWS, VAST). Both read endpoint, credentials and bucket from the environment
(EnvVar), with the variable names defined once in proxygen_core.settings.
"""
from __future__ import annotations

from dagster import Definitions, EnvVar
from dagster_aws.s3 import S3Resource

from proxygen_core.settings import Settings, deployment, env_name, environ, from_environment, load_settings
from proxygen_dagster.alerts import build_failure_alerts
from proxygen_dagster.assets import build_frame_chain
from proxygen_dagster.clips import build_shot_clip
from proxygen_dagster.dailies import build_dailies_schedule, build_daily_review
from proxygen_dagster.housekeeping import build_retention
from proxygen_dagster.jobs import build_jobs
from proxygen_dagster.resources import CatalogResource, EventBus, MediaStorage
from proxygen_dagster.sensors import build_sensors


def _secret(name: str, value: str | None) -> EnvVar | str | None:
    """A secret that came from the environment stays bound to its variable (the UI shows the name only)."""
    return EnvVar(env_name(name)) if from_environment(name, value) else value


def resources(settings: Settings, env: str) -> dict:
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
    catalog = CatalogResource(**{name: _secret(name, getattr(cat, name)) if name in secrets else getattr(cat, name)
                                 for name in CatalogResource.model_fields})
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


def build_definitions(settings: Settings, env: str = "local") -> Definitions:
    frames_job, clips_job = build_jobs(settings)
    dailies_job, dailies_schedule = build_dailies_schedule(settings)
    retention_job, retention_schedule = build_retention(settings)
    return Definitions(
        assets=[build_frame_chain(settings), build_shot_clip(settings), build_daily_review(settings)],
        jobs=[frames_job, clips_job, dailies_job, retention_job],
        sensors=[*build_sensors(settings, frames_job, clips_job),
                 build_failure_alerts([frames_job, clips_job, dailies_job], settings.execution.alert_webhook_url)],
        schedules=[dailies_schedule, retention_schedule],
        resources=resources(settings, env),
    )


defs = build_definitions(load_settings(), deployment())
