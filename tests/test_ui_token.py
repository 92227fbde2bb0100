"""The local UI's gate (launch/webserver.py): nothing reaches Dagster's app without the stack's token."""
from __future__ import annotations

import asyncio

import pytest

from proxygen_dagster.launch.webserver import TokenGate

TOKEN = "s3cr3t-token-of-this-stack-0123"
PORT = 3100
COOKIE = f"proxygen_ui_token_{PORT}"  # named after the port: two stacks keep their own


class _App:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"dagster"})


def _call(gate: TokenGate, path: str = "/graphql", query: str = "", headers: dict[str, str] | None = None,
          kind: str = "http") -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": kind, "path": path, "root_path": "", "query_string": query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}
    asyncio.run(gate(scope, receive, send))
    return sent


def test_without_the_token_nothing_passes():
    app = _App()
    gate = TokenGate(app, TOKEN, PORT)
    for headers, query in (({}, ""), ({"Cookie": f"{COOKIE}=wrong"}, ""), ({"Authorization": "Bearer nope"}, ""),
                           ({}, "token=guess"), ({"Cookie": f"other={TOKEN}"}, ""),
                           ({"Cookie": f"proxygen_ui_token_3000={TOKEN}"}, ""),  # another stack's cookie name
                           # a page served from another local port, with this UI's cookie
                           ({"Cookie": f"{COOKIE}={TOKEN}", "Origin": "http://127.0.0.1:8080"}, ""),
                           ({"Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.localhost:3100"}, "")):
        sent = _call(gate, headers=headers, query=query)
        assert sent[0]["status"] == 401 and b"proxygen local" in sent[1]["body"], (headers, query)
    assert _call(gate, kind="websocket") == [{"type": "websocket.close", "code": 4401}]
    assert app.calls == []


def test_the_token_once_in_the_address_becomes_a_cookie_and_leaves_the_address():
    app = _App()
    gate = TokenGate(app, TOKEN, PORT)
    sent = _call(gate, path="/asset-groups", query=f"token={TOKEN}&view=lineage")
    head = dict(sent[0]["headers"])
    assert sent[0]["status"] == 303 and head[b"location"] == b"/asset-groups?view=lineage"
    assert head[b"set-cookie"].decode() == f"{COOKIE}={TOKEN}; HttpOnly; SameSite=Strict; Path=/"
    assert app.calls == []  # the redirect itself serves nothing
    assert _call(gate, headers={"Cookie": f"a=b; {COOKIE}={TOKEN}"})[0]["status"] == 200
    assert _call(gate, headers={"Authorization": f"Bearer {TOKEN}"})[0]["status"] == 200
    assert (
        _call(gate, headers={"Cookie": f"{COOKIE}={TOKEN}", "Origin": f"http://127.0.0.1:{PORT}"})[0]["status"] == 200
    )
    assert _call(gate, kind="websocket", headers={"Cookie": f"{COOKIE}={TOKEN}"})[1]["body"] == b"dagster"
    assert app.calls == ["/graphql"] * 4


def test_a_short_token_is_refused():
    with pytest.raises(ValueError, match="too short"):
        TokenGate(_App(), "abc", PORT)
