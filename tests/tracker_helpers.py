"""Shared by the ShotGrid, ftrack and AYON publisher tests: one clip as a Publication with real files.

The movie is a real 24-frame H.264 MP4 (PyAV) and the poster a real JPEG (OpenImageIO), made once per test
session and small (64x36), so an upload reads actual bytes and a test can check which file went where.
"""
from __future__ import annotations

import dataclasses
import functools
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
