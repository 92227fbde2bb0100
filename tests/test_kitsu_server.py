"""The session's zou (tests/kitsu_server.py): it serves on loopback, logs the admin in, refuses a wrong password,
and its start time is measured (docs/trackers.md quotes it)."""
from __future__ import annotations

import socket

import gazu
import pytest


def test_admin_logs_in_and_zou_has_its_base_data(kitsu_server, record_property):
    client = gazu.client.create_client(kitsu_server.url)
    tokens = gazu.log_in(kitsu_server.email, kitsu_server.password, client=client)
    assert tokens["login"] is True and tokens["user"]["email"] == kitsu_server.email
    assert tokens["user"]["role"] == "admin"
    statuses = {s["short_name"] for s in gazu.task.all_task_statuses(client=client)}
    assert {"wfa", "wip", "retake", "done"} <= statuses  # init-data made the statuses the publisher sets
    assert "Compositing" in {t["name"] for t in gazu.task.all_task_types(client=client)}  # the vfx domain
    record_property("zou_started_seconds", round(kitsu_server.started_seconds, 1))
    assert 0 < kitsu_server.started_seconds < 120  # start_zou's bound: init-db, init-data, create-admin, gunicorn


def test_wrong_password_refused(kitsu_server):
    client = gazu.client.create_client(kitsu_server.url)
    with pytest.raises(gazu.exception.AuthFailedException):
        gazu.log_in(kitsu_server.email, kitsu_server.password + "x", client=client)
    with pytest.raises(gazu.exception.NotAuthenticatedException):
        gazu.project.all_projects(client=client)  # no token: nothing readable


def test_zou_listens_on_loopback_only(kitsu_server):
    with socket.create_connection(("127.0.0.1", kitsu_server.port), timeout=2):
        pass
    # gunicorn bound 127.0.0.1:PORT, not 0.0.0.0: another loopback address of this host is refused
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(2)
        s.connect(("127.0.0.2", kitsu_server.port))
