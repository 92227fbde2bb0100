"""The Dagster resources' own rules (no server: building a boto3 client opens no connection)."""
from __future__ import annotations

from dagster_aws.s3 import S3Resource

from proxygen_dagster import resources


def _storage(endpoint: str, key: str = "ak") -> resources.MediaStorage:
    return resources.MediaStorage(s3=S3Resource(endpoint_url=endpoint, aws_access_key_id=key,
                                                aws_secret_access_key="sk", region_name="us-east-1"), bucket="b")


def test_one_s3_client_per_configuration_however_often_dagster_builds_the_resource(monkeypatch):
    """Dagster builds the resources again for every sensor tick; the boto3 client is built once per S3
    configuration and process, and a changed endpoint or key gets its own."""
    built = []
    real = S3Resource.get_client
    monkeypatch.setattr(S3Resource, "get_client", lambda self: built.append(self.endpoint_url) or real(self))
    monkeypatch.setattr(resources, "_CLIENTS", {})
    first, second = _storage("http://127.0.0.1:1").store(), _storage("http://127.0.0.1:1").store()  # two ticks
    assert first.client is second.client and built == ["http://127.0.0.1:1"]
    other_endpoint, other_key = _storage("http://127.0.0.1:2").store(), _storage("http://127.0.0.1:1", "k2").store()
    assert other_endpoint.client is not first.client and other_key.client is not first.client
    assert other_key.client._request_signer._credentials.access_key == "k2"
    assert len(built) == 3
    for n in range(resources._MAX_CLIENTS):  # keys rotated again and again: the cache stays bounded
        _storage("http://127.0.0.1:1", f"rotated-{n}").store()
    assert len(resources._CLIENTS) == resources._MAX_CLIENTS
