"""Shared by the ShotGrid, ftrack and AYON publisher tests: one clip as a Publication with real files.

The movie is a real 24-frame H.264 MP4 (PyAV) and the poster a real JPEG (OpenImageIO), made once per test
session and small (64x36), so an upload reads actual bytes and a test can check which file went where.
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from proxygen_core.trackers import Publication

FRAMES = 24
WIDTH, HEIGHT = 64, 36
FPS = 24


@functools.lru_cache(maxsize=1)
def media_dir() -> Path:
    """The session's movie and poster (written once; the files are never modified by a publisher)."""
    import av
    import OpenImageIO as oiio

    folder = Path(tempfile.mkdtemp(prefix="proxygen-tracker-media-"))
    atexit.register(shutil.rmtree, folder, True)  # the test process's own folder, removed when it ends
    movie = folder / "sh010_comp_v003.mp4"
    with av.open(str(movie), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"bf": "0"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(FRAMES):
            rgb = np.full((HEIGHT, WIDTH, 3), (i * 10) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    poster = folder / "sh010_comp_v003.jpg"
    buf = oiio.ImageBuf(oiio.ImageSpec(WIDTH, HEIGHT, 3, oiio.UINT8))
    oiio.ImageBufAlgo.fill(buf, (0.2, 0.4, 0.6))
    if not buf.write(str(poster)):
        raise RuntimeError(f"{poster}: {buf.geterror()}")
    return folder


def publication(**overrides) -> Publication:
    """The test clip: project demo, seq010/sh010, task comp, version 3, frames 1001-1024 at 24 fps."""
    folder = media_dir()
    pub = Publication(
        clip_id="clip-sh010-comp-v003",
        project="demo",
        sequence="seq010",
        shot="sh010",
        task="comp",
        version=3,
        movie=folder / "sh010_comp_v003.mp4",
        poster=folder / "sh010_comp_v003.jpg",
        first_frame=1001,
        last_frame=1024,
        frame_count=FRAMES,
        fps=float(FPS),
        width=WIDTH,
        height=HEIGHT,
        comment="24 frames 1001-1024, none missing; ACES 1.3 sRGB; PSNR 48.1 dB",
        movie_uri="s3://renders/review/demo/sh010/comp/v003/sh010_comp_v003.mp4",
        frames_uri="s3://renders/shows/demo/seq010/sh010/comp/v003/sh010_comp_v003.####.exr",
        status="wfa",
        create=True,
    )
    return dataclasses.replace(pub, **overrides)


# --- recorded HTTP exchanges (ftrack and AYON) ----------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "trackers"


@dataclasses.dataclass
class Sent:
    """One request a client library made: what the tests assert."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        import json

        return json.loads(self.body)


class FixtureMismatch(BaseException):
    """A request the fixture does not expect: a BaseException, so no publisher's ``except Exception`` turns a
    wrong request into an expected-looking TrackerRefused."""


class FakeHTTP:
    """Replays a fixture's exchanges in order in place of the network (requests' HTTPAdapter.send), recording
    every request. Each request must be the next exchange's method and path (and contain its ``json`` subset, if
    the fixture gives one; a GraphQL request its operation name and variables): a library making a different
    call, or one more, fails the test at that call (FixtureMismatch).

    ``refuse=True`` answers every request with a refused connection instead (what a stopped server gives)."""

    def __init__(self, exchanges: list[dict], refuse: bool = False) -> None:
        self.exchanges = list(exchanges)
        self.refuse = refuse
        self.sent: list[Sent] = []

    @classmethod
    def load(cls, tracker: str, scenario: str) -> FakeHTTP:
        import json

        data = json.loads((FIXTURES / tracker / f"{scenario}.json").read_text())
        return cls(data["exchanges"])

    def send(self, request, **kwargs):
        import json
        import urllib.parse

        import requests

        body = request.body
        if body is None:
            raw = b""
        elif isinstance(body, (bytes, bytearray)):
            raw = bytes(body)
        elif isinstance(body, str):
            raw = body.encode()
        elif hasattr(body, "read"):
            raw = body.read()
        else:  # a generator of chunks (ayon_api's uploads)
            raw = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in body)
        url = urllib.parse.urlsplit(request.url)
        sent = Sent(request.method, url.path, urllib.parse.parse_qs(url.query), dict(request.headers), raw)
        self.sent.append(sent)
        if self.refuse:
            raise requests.exceptions.ConnectionError(f"[Errno 111] Connection refused: {request.url}")
        if not self.exchanges:
            raise FixtureMismatch(f"request beyond the fixture: {sent.method} {sent.path} {raw[:300]!r}")
        expected = self.exchanges.pop(0)
        want = expected["request"]
        try:
            assert (sent.method, sent.path) == (want["method"], want["path"]), (
                f"expected {want['method']} {want['path']}, sent {sent.method} {sent.path} {raw[:300]!r}")
            if "json" in want:
                _contains(sent.json(), want["json"], f"{sent.method} {sent.path}")
            if "graphql" in want:  # the operation; its field order comes from a set, so the text is not compared
                assert sent.json()["query"].startswith(f"query {want['graphql']}("), sent.json()["query"][:80]
        except AssertionError as exc:
            raise FixtureMismatch(str(exc)) from exc
        reply = expected["response"]
        response = requests.Response()
        response.status_code = reply.get("status", 200)
        response.reason = reply.get("reason", "OK")
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/json"
        content = reply.get("json")
        response._content = json.dumps(content).encode() if content is not None else b""
        response.encoding = "utf-8"
        return response

    def install(self, monkeypatch) -> FakeHTTP:
        import requests.adapters

        fake = self

        def send(adapter, request, **kwargs):
            return fake.send(request, **kwargs)

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
        return self

    def done(self) -> None:
        assert not self.exchanges, f"{len(self.exchanges)} exchanges not requested: {self.exchanges[0]['request']}"


def _contains(actual, expected, where: str) -> None:
    """``expected`` is a subset of ``actual``: dict keys recursively, lists element by element."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), (where, actual)
        for key, value in expected.items():
            assert key in actual, (where, key, actual)
            _contains(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (where, actual, expected)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _contains(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, (where, actual, expected)
