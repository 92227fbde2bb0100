"""A sound track muxed into a movie from its first picture: the WAV or AAC beside an editorial cut.

Why streamed: a cut's audio can be as long as a reel (48 kHz stereo float is ~23 MB a minute), so it is decoded,
resampled and encoded a frame at a time, interleaved with the pictures (``until`` after each picture), never held
whole. Sample 0 of the file plays with the first picture; the track is cut at the movie's last picture, and a
file shorter than the movie simply ends (the caller reports both as a warning, with the lengths).

The codec follows the container: AAC-LC in MP4 (what browsers and review tools play), 24-bit PCM in MOV (what an
editing system takes from a ProRes or DNxHR intermediate); 48 kHz, the file's own channel layout.
"""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any, cast

import av

from proxygen_core.errors import UnreadableSourceError

RATE = 48_000
CODECS = {"mp4": ("aac", "fltp"), "mov": ("pcm_s24le", "s32")}
AUDIO_EXTENSIONS = (".wav", ".aac")


def audio_seconds(path: str) -> float:
    """The file's length in seconds (its audio stream's duration, else decoded to the end)."""
    try:
        with av.open(path) as container:
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return sum(f.samples for f in container.decode(audio=0)) / float(stream.rate or RATE)
    except (av.error.FFmpegError, IndexError) as exc:
        raise UnreadableSourceError(path, f"not a readable audio file: {exc}") from None


ADTS_PRIMING = 1024  # samples an AAC encoder puts before the sound (ffmpeg's; an ADTS file cannot say so)


def _tail(frame: Any, skip: int) -> Any:
    """The frame without its first ``skip`` samples (a FIFO does the cutting: any layout, any format)."""
    fifo = av.AudioFifo()
    frame.pts = None
    fifo.write(frame)
    fifo.read(skip)
    rest = cast(Any, fifo.read(frame.samples - skip))  # the FIFO holds exactly that many
    rest.sample_rate = frame.sample_rate
    return rest


def _layout(stream: Any) -> str:
    """The stream's channel layout by name; a WAV without a channel mask ("2 channels") by its channel count."""
    name = str(stream.layout.name)
    if not name.endswith("channels"):
        return name
    count = len(stream.layout.channels)
    return {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(count, name)


class AudioFeed:
    """The audio stream of one output ``container`` (``mp4`` or ``mov``) fed from the file at ``path``."""

    def __init__(self, path: str, output: Any, container: str) -> None:
        codec, sample_format = CODECS[container]
        self.path = path
        try:
            self.source = av.open(path)
        except av.error.FFmpegError as exc:
            raise UnreadableSourceError(path, f"not a readable audio file: {exc}") from None
        try:
            audio = self.source.streams.audio[0]
            layout = _layout(audio)
            # an ADTS .aac keeps its encoder's priming in the samples (no edit list to say so): dropped, so that
            # sample 0 is the sound's first one (ffmpeg's AAC encoder primes 1024 samples)
            self.priming = ADTS_PRIMING if self.source.format.name == "aac" else 0
            self.stream = cast(av.audio.stream.AudioStream, output.add_stream(codec, rate=RATE, layout=layout))
            self.stream.time_base = Fraction(1, RATE)
            self.resampler = av.AudioResampler(format=sample_format, layout=layout, rate=RATE)
        except (av.error.FFmpegError, IndexError, ValueError) as exc:
            self.source.close()
            raise UnreadableSourceError(path, f"not a readable audio file: {exc}") from None
        # resampled frames queue here and leave in exactly the counts the pictures need (any channel count:
        # slicing a planar frame's arrays by hand broke on 7.1 in PyAV 18)
        self.fifo = av.AudioFifo()
        self.frames: Iterator[Any] = self._resampled()
        self.written = 0  # samples written to the output
        self.ended = False  # the file has no more samples

    def _resampled(self) -> Iterator[Any]:
        try:
            dropped = 0
            for frame in self.source.decode(audio=0):
                if dropped < self.priming:
                    skip = min(frame.samples, self.priming - dropped)
                    dropped += skip
                    if skip == frame.samples:
                        continue
                    frame = _tail(frame, skip)
                frame.pts = None  # the resampler's timing is the output's: sample 0 with the first picture
                yield from self.resampler.resample(frame)
            yield from self.resampler.resample(None)
        except av.error.FFmpegError as exc:
            raise UnreadableSourceError(self.path, f"audio decode failed: {exc}") from None

    def until(self, seconds: float, output: Any) -> None:
        """Write the samples up to ``seconds`` from the movie's start (the time after the last picture)."""
        limit = int(round(seconds * RATE))
        while self.written < limit:
            need = limit - self.written
            while self.fifo.samples < need and not self.ended:
                frame = next(self.frames, None)
                if frame is None:
                    self.ended = True
                else:
                    frame.pts = None
                    self.fifo.write(frame)
            take = min(need, self.fifo.samples)
            if take <= 0:
                return  # the sound ended before the pictures: the rest of the movie is silent
            frame = cast(Any, self.fifo.read(take))  # ``take`` <= what the FIFO holds: never None
            frame.pts, frame.time_base, frame.sample_rate = self.written, Fraction(1, RATE), RATE
            for packet in self.stream.encode(frame):
                output.mux(packet)
            self.written += take

    def finish(self, seconds: float, output: Any) -> None:
        """The samples up to the movie's end, then the encoder's last packets; the source is closed."""
        try:
            self.until(seconds, output)
            for packet in self.stream.encode(None):
                output.mux(packet)
        finally:
            self.source.close()

    def close(self) -> None:
        self.source.close()
