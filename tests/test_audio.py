"""The sound muxed into a movie (media/audio.py): any channel layout, WAV or ADTS AAC, sample 0 with the first
picture; decoded back by Debian's ffmpeg (not PyAV, which wrote it)."""
from __future__ import annotations

import json
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from proxygen_core.errors import UnreadableSourceError
from proxygen_core.media.clips import ProfileEncoder
from proxygen_core.media.yuv import rgb_to_planes
from proxygen_core.profiles import PROFILES
from proxygen_core.settings import RenderSettings


def _sound(path, layout: str, codec: str, onset: float, seconds: float = 1.0, rate: int = 44100) -> None:
    channels = len(av.AudioLayout(layout).channels)
    t = np.arange(int(rate * seconds)) / rate
    tone = np.where(t >= onset, np.sin(2 * np.pi * 440 * t) * 0.5, 0.0).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        fmt = "fltp" if codec == "aac" else "s16"
        data = np.repeat(tone[None], channels, 0) if fmt == "fltp" else \
            np.repeat((tone * 32767).astype(np.int16)[:, None], channels, 1).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def _movie(path, profile: str, audio) -> None:
    p = PROFILES[profile]
    encoder = ProfileEncoder(p, str(path), 64, 36, Fraction(24), "01:00:00:00", RenderSettings(), audio=str(audio))
    for i in range(24):
        encoder.add(rgb_to_planes(np.full((36, 64, 3), i / 24, np.float32), p.matrix, p.bits, p.chroma))
    encoder.finish()


def _decoded(path) -> tuple[dict, np.ndarray]:
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                                       "stream=codec_name,channels,sample_rate", "-of", "json", str(path)],
                                      check=True, capture_output=True, text=True, timeout=60).stdout)["streams"][0]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-f", "f32le", "-"],
                         check=True, capture_output=True, timeout=60).stdout
    return probe, np.frombuffer(raw, np.float32)


@pytest.mark.parametrize(("layout", "codec", "name"), [("7.1", "pcm_s16le", "s71.wav"), ("mono", "aac", "m.aac"),
                                                      ("5.1", "aac", "s51.aac")])
def test_every_layout_and_an_adts_aac_play_from_the_first_picture(tmp_path, layout, codec, name):
    source = tmp_path / name
    _sound(source, layout, codec, onset=0.25)
    channels = len(av.AudioLayout(layout).channels)
    for profile, audio_codec in (("review", "aac"), ("prores_422hq", "pcm_s24le")):
        movie = tmp_path / f"{name}.{PROFILES[profile].container}"
        _movie(movie, profile, source)
        probe, sound = _decoded(movie)
        assert (probe["codec_name"], probe["channels"], probe["sample_rate"]) == (audio_codec, channels, "48000")
        onset = np.flatnonzero(np.abs(sound) > 0.05)[0] / 48000
        assert abs(onset - 0.25) < 0.004, (profile, onset)  # the AAC source's priming dropped, not heard late


def test_a_file_that_is_not_sound_is_a_typed_error_naming_it(tmp_path):
    bad = tmp_path / "reel1.wav"
    bad.write_bytes(b"RIFF not really")
    with pytest.raises(UnreadableSourceError, match="reel1.wav"):
        _movie(tmp_path / "x.mp4", "review", bad)
