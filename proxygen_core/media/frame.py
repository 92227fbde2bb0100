"""The working frame: the chain's shared intermediate, scene-linear at proxy resolution.

Its own module because every stage after the decode takes it (thumbnail, proxy, preview, the clips, the
stored working EXR) and none of them should have to import the renderer to name it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from proxygen_core.colour.engine import ColourDecision
from proxygen_core.colour.grades import Grade
from proxygen_core.media.geometry import desqueezed
from proxygen_core.probe import ProbeRecord


@dataclass
class WorkingFrame:
    """Scene-linear pixels in the working space at proxy resolution: the shared intermediate."""

    pixels: np.ndarray  # float32 (h, w, 3)
    probe: ProbeRecord
    colour: ColourDecision
    working_colorspace: str
    source_width: int  # display window after orientation, in stored pixels
    source_height: int
    nonfinite_pixels: int = 0
    full_res: np.ndarray | None = None  # only kept when a full-resolution preview is wanted
    timings: dict[str, float] = field(default_factory=dict)
    layer: str = ""  # the review layer shown ("" = the unnamed RGB channels)
    pixel_aspect: float = 1.0  # the source's; the pixels here are already desqueezed (square)
    alpha: np.ndarray | None = None  # float32 (h, w) coverage, kept only when a deliverable carries alpha
    # the yuv420p planes (BT.709, limited) its proxy was encoded from: the review clip's exact input, kept
    # beside the working frame so that clip costs an encode, not a second display render (docs/sequences.md)
    review_planes: np.ndarray | None = None
    streamed: bool = False  # rendered in stripes, the frame being over the memory budget (media/memory.py)
    warnings: dict[str, str] = field(default_factory=dict)  # what the decode made of an odd source (not a failure)
    grade: Grade | None = None  # the shot's CDL for this frame's own outputs (PROXYGEN_GRADE_FRAMES; clips: the plan's)

    @property
    def display_size(self) -> tuple[int, int]:
        """The source as it is meant to be seen: anamorphic pixels desqueezed (2:1 doubles the width; a ratio
        below 1 stretches the height instead, so no axis is ever shrunk). What every output's aspect follows."""
        return desqueezed(self.source_width, self.source_height, self.pixel_aspect)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])
