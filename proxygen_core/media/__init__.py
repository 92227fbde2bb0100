"""Pixels and media files: decode to the working frame, display renders, encoders, QC, sequences, clips."""
