"""Colour: the OCIO config, the rules that detect a source's colour space, and the processors (exact and
baked-LUT display paths)."""
