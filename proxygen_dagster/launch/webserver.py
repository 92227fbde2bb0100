"""The local stack's Dagster UI behind a token: Dagster's own webserver app, wrapped by one ASGI gate.

Why: the UI's GraphQL launches runs, wipes materializations and reads every key's metadata, and Dagster's webserver
has no credentials of its own; on 127.0.0.1 every local user of the machine could use it. ``proxygen local`` makes a
random token at each start (kept in a 0600 file of its var folder) and prints the UI's address with it; the first
visit trades the token for an HttpOnly, SameSite=Strict cookie and is redirected to the same page without it.
Scripts send ``Authorization: Bearer <token>``. Anything else (HTTP or websocket) is refused before Dagster sees it.

The app is built the way ``dagster-webserver`` builds it (an instance, a workspace process context over the shared
code server's workspace file, ``create_app_from_workspace_process_context``) and served by uvicorn on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import hmac
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

COOKIE = "proxygen_ui_token"  # + "_<port>"
TOKEN_PARAM = "token"
REFUSED = (b"This Dagster UI belongs to a proxygen local stack and needs its token: open the address that "
           b"`proxygen local` printed (it ends in ?token=...), or send Authorization: Bearer <token>.\n")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class TokenGate:
    """ASGI middleware: passes a request only with the token (cookie, bearer header, or once in the query).

    Browsers scope cookies by host, not port, and count every port of 127.0.0.1 as the same site: so the cookie is
    named after this UI's port (two stacks under one account keep their own), and a request whose ``Origin`` is
    not this UI (a page served from another local port) is refused even with the cookie.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], token: str, port: int) -> None:
        if len(token) < 16:
            raise ValueError("the UI token is too short to guard anything")
        self.app, self.token, self.port = app, token, port
        self.cookie = f"{COOKIE}_{port}"
        self.origins = {f"http://{host}:{port}" for host in ("127.0.0.1", "localhost")}

    def _valid(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    def _presented(self, scope: Scope) -> tuple[bool, str | None]:
        """(whether a header or cookie carries the token, the token given in the query string if any)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookies: dict[str, str] = {}
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        bearer = headers.get("authorization", "")
        if headers.get("origin", next(iter(self.origins))) not in self.origins:
            return False, None  # another page's request, whatever it carries
        ok = self._valid(cookies.get(self.cookie)) or (bearer.startswith("Bearer ") and self._valid(bearer[7:]))
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return ok, (query.get(TOKEN_PARAM) or [None])[0]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        ok, from_query = self._presented(scope)
        if ok:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
        elif self._valid(from_query):
            await self._redirect_with_cookie(scope, send)
        else:
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": REFUSED})

    async def _redirect_with_cookie(self, scope: Scope, send: Send) -> None:
        """The same page without the token in its address (it stays out of the history and of Referer headers)."""
        query = [(k, v) for k, v in urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"))
                 if k != TOKEN_PARAM]
        target = scope.get("root_path", "") + scope["path"] + (f"?{urllib.parse.urlencode(query)}" if query else "")
        cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", target.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})


def serve(workspace: Path, host: str, port: int, token: str) -> None:
    """Dagster's webserver app for ``workspace``, behind the gate, until interrupted."""
    import uvicorn
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_webserver.app import create_app_from_workspace_process_context
    from dagster_webserver.version import __version__

    with DagsterInstance.get() as instance, WorkspaceProcessContext(
            instance, version=__version__, workspace_load_target=WorkspaceFileTarget([str(workspace)])) as context:
        app = create_app_from_workspace_process_context(context, "", None)
        uvicorn.run(TokenGate(app, token, port), host=host, port=port, log_level="warning")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m proxygen_dagster.launch.webserver")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-file", required=True, type=Path, help="a file (mode 0600) holding the token")
    args = parser.parse_args(argv)
    serve(args.workspace, args.host, args.port, args.token_file.read_text().strip())


if __name__ == "__main__":
    main()
