"""Clip profiles: the deliverables a sequence can get, each one encoder setup written once.

Settings follow the ASWF encoding guidelines (AcademySoftwareFoundation/EncodingGuidelines): ProRes 422 HQ
``prores_ks -profile:v 3 -pix_fmt yuv422p10le -vendor apl0``, ProRes 4444 ``-profile:v 4 yuv444p10le``,
DNxHR HQX ``dnxhd -profile:v dnxhr_hqx yuv422p10le``, HEVC Main10 ``libx265 yuv420p10le -tag:v hvc1``.
The HDR profile renders the studio config's PQ display and 1000-nit view and tags BT.2020 / ST 2084 with
HDR10 static metadata (MaxCLL / MaxFALL measured per file: media/hdr10.py). Every profile is encoded from
the scene-linear working frames, through the display transform in float, so each deliverable is first
generation.

``bound`` is what the profile's quality check holds the decoded clip to, against the exact display render of
the same working frames (docs/sequences.md, "Deliverables"): mean and p99 colour difference (CIEDE2000; on
the PQ profile deltaE ITP) over sampled frames, and a minimum PSNR on code values.

The burn-in template grammar lives here too (the pixels are drawn by media/burnins.py): settings check a
template when they are made, and nothing on this floor may import a stage.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field

# BT.2020 primaries and D65 white in SMPTE ST 2086 units (0.00002), and the 1000-nit mastering display.
# The display primaries are P3 D65: the view renders within P3, as "ACES 2.0 - HDR 1000 nits (P3 D65)" says.
HDR10_MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
# The PQ rendering: both names are in the studio config the project pins.
HDR_DISPLAY = "Rec.2100-PQ - Display"
HDR_VIEW = "ACES 2.0 - HDR 1000 nits (P3 D65)"


def is_pq(display: str | None) -> bool:
    """A display that takes PQ (SMPTE ST 2084) code values, by the names OCIO configs give them: the one rule
    for the graphics levels, the quality metric and the load-time check of an HDR display."""
    lowered = (display or "").lower()
    return "pq" in lowered or "st2084" in lowered or "st-2084" in lowered


@dataclass(frozen=True)
class QualityBound:
    de_mean: float
    de_p99: float
    psnr_min: float
    # the worst chart patch (a flat patch's mean) against the exact render, as tests/test_deliverables.py
    # holds every profile to it: on PQ 10-bit limited range, quantisation alone costs up to ~1.1 deltaE ITP on
    # saturated dark reds (docs/sequences.md, "Bounds"), so 1.0 cannot be met there
    patch: float = 0.5


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per profile, in PROFILES
class ClipProfile:
    name: str
    codec: str  # the libavcodec encoder
    stream_codec: str  # what a decoder reports the stream as
    container: str  # mp4 | mov
    pix_fmt: str
    bits: int
    chroma: str  # 420 | 422 | 444
    options: dict[str, str] = field(default_factory=dict)
    matrix: str = "bt709"  # bt709 | bt2020nc: the R'G'B' -> Y'CbCr matrix, tagged as such
    primaries: str = "bt709"
    transfer: str = "bt709"  # bt709 | smpte2084
    hdr: bool = False  # rendered through the PQ display and HDR view, not the proxy display
    codec_tag: str | None = None
    alpha_pix_fmt: str | None = None  # used when the working frames carry alpha
    decoded_pix_fmt: str | None = None  # what decoders report when it differs from what is encoded
    bound: QualityBound = QualityBound(0.5, 1.0, 40.0)
    vendor: str | None = None  # the sample description's vendor (ProRes: apl0, as Apple's files carry)
    title: str = ""  # what the slate calls the codec
    editorial: bool = False  # an editing intermediate: an editorial cut is delivered in it too when it is enabled

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.stream_codec)

    @property
    def extension(self) -> str:
        return f".{self.container}"

    @property
    def primary(self) -> bool:
        """The review clip: the first deliverable, whose names (asset ``shot_clip``, key ``_clip``, its row's id)
        predate the other profiles and stay as they were."""
        return self.name == PRIMARY


    def encoded_pix_fmt(self, alpha: bool) -> str:
        return self.alpha_pix_fmt if alpha and self.alpha_pix_fmt else self.pix_fmt

    def reported_pix_fmt(self, alpha: bool) -> str:
        """What a decoder (and ffprobe) reports for the stream."""
        fmt = self.decoded_pix_fmt or self.pix_fmt
        return fmt.replace("yuv", "yuva", 1) if alpha and self.alpha_pix_fmt else fmt


PRIMARY = "review"  # the review clip's profile name


def id_suffix(profile: str) -> str:
    """What a profile adds to the ids of its rows and events: nothing for the review clip (its ids predate the
    other profiles), ``|<profile>`` otherwise."""
    return "" if profile == PRIMARY else f"|{profile}"


PROFILES: dict[str, ClipProfile] = {p.name: p for p in (
    # Today's web review clip: 8-bit 4:2:0 H.264, every 12th frame a keyframe (options set by the encoder).
    ClipProfile("review", "libx264", "h264", "mp4", "yuv420p", 8, "420", bound=QualityBound(0.8, 2.5, 36.0, 1.0),
                title="H.264 High"),
    ClipProfile("prores_422hq", "prores_ks", "prores", "mov", "yuv422p10le", 10, "422",
                {"profile": "3", "vendor": "apl0"}, vendor="apl0", title="Apple ProRes 422 HQ", editorial=True),
    ClipProfile("prores_4444", "prores_ks", "prores", "mov", "yuv444p10le", 10, "444",
                {"profile": "4", "vendor": "apl0"}, alpha_pix_fmt="yuva444p10le", vendor="apl0",
                title="Apple ProRes 4444", editorial=True,
                # ProRes 4444 is a 12-bit format: FFmpeg's decoder (and ffprobe) report yuv444p12le for it
                decoded_pix_fmt="yuv444p12le"),
    ClipProfile("dnxhr_hqx", "dnxhd", "dnxhd", "mov", "yuv422p10le", 10, "422", {"profile": "dnxhr_hqx"},
                title="Avid DNxHR HQX", editorial=True),
    ClipProfile("hevc_main10", "libx265", "hevc", "mp4", "yuv420p10le", 10, "420", {"preset": "fast", "crf": "16"},
                codec_tag="hvc1", title="HEVC Main 10"),
    ClipProfile("hdr_pq", "libx265", "hevc", "mp4", "yuv420p10le", 10, "420", {"preset": "fast", "crf": "16"},
                matrix="bt2020nc", primaries="bt2020", transfer="smpte2084", hdr=True, codec_tag="hvc1",
                title="HEVC Main 10 HDR10 (PQ)",
                bound=QualityBound(1.5, 4.0, 40.0, 1.25)),
)}

# libavutil's enum values for the tags (AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace).
AV_LIMITED = 1  # AVCOL_RANGE_MPEG: limited (tv) range, every stream here
AV_PRIMARIES = {"bt709": 1, "bt2020": 9}
AV_TRANSFER = {"bt709": 1, "smpte2084": 16}
AV_MATRIX = {"bt709": 1, "bt2020nc": 9}


def parse_profiles(text: str) -> tuple[ClipProfile, ...]:
    """``review,prores_422hq`` -> the profiles, in that order; an unknown name is an error naming the known."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise ValueError(f"unknown clip profile(s) {', '.join(unknown)}: one of {', '.join(PROFILES)}")
    return tuple(PROFILES[n] for n in dict.fromkeys(names))


# The burn-in template grammar (media/burnins.py draws it).
POSITIONS = ("top_left", "top_center", "top_right", "bottom_left", "bottom_center", "bottom_right")
DEFAULT_TEMPLATE = ("top_left={show} {seq} {shot};top_right={task} v{version};bottom_left={name};"
                    "bottom_right={frame}{state}  {timecode}")
FIELDS = ("show", "seq", "shot", "task", "version", "name", "profile", "date", "display", "view", "frame",
          "timecode", "state", "grade", "grade_source", "looks")


def parse_template(text: str) -> dict[str, str]:
    """``position=text;...`` -> {position: text}; an unknown position or a malformed format is an error."""
    out: dict[str, str] = {}
    for part in (p for p in text.split(";") if p.strip()):
        position, sep, value = part.partition("=")
        position = position.strip()
        if not sep or position not in POSITIONS:
            raise ValueError(f"burn-in {part.strip()!r}: expected position=text with a position among "
                             f"{', '.join(POSITIONS)}")
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"burn-in {position}: {exc}") from None
        unknown = [name for name in names if name not in FIELDS]
        if unknown:  # a typo ({shto}) would print nothing on every picture of every clip: refused at load
            raise ValueError(f"burn-in {position}: unknown field {{{unknown[0]}}}; the fields are "
                             f"{', '.join('{' + f + '}' for f in FIELDS)}")
        out[position] = value
    return out


def parse_rasters(text: str) -> dict[str, tuple[int, int]]:
    """``prores_422hq=1920x1080;dnxhr_hqx=3840x2160`` -> {profile: (width, height)}: the raster a profile's
    files are delivered at (media/geometry.py ``letterbox``). Sizes are even (4:2:0 and 4:2:2 chroma)."""
    out: dict[str, tuple[int, int]] = {}
    for part in (p.strip() for p in text.replace(",", ";").split(";") if p.strip()):
        name, sep, size = part.partition("=")
        name = name.strip()
        if not sep or name not in PROFILES:
            raise ValueError(f"raster {part!r}: expected profile=WIDTHxHEIGHT with a profile among "
                             f"{', '.join(PROFILES)}")
        w, x, h = size.strip().lower().partition("x")
        if not x or not w.isdigit() or not h.isdigit() or int(w) < 2 or int(h) < 2 or int(w) % 2 or int(h) % 2:
            raise ValueError(f"raster {part!r}: the size must be WIDTHxHEIGHT, even numbers (e.g. 1920x1080)")
        out[name] = (int(w), int(h))
    return out


def parse_pad(text: str) -> tuple[float, float, float]:
    """``0,0,0`` -> the pad colour as display code values (R', G', B' in [0, 1]): black by default."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"{text!r}: expected R,G,B display code values in [0, 1] (e.g. 0,0,0)")
    return values[0], values[1], values[2]
