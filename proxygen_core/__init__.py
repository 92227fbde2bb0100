"""proxygen core: colour-managed review media (JPEG thumbnail, H.264 proxy) from VFX frames.

Plain library, no Dagster import: usable from scripts, the ``proxygen`` CLI or any orchestrator.
"""
import os

# Our BLAS calls are many small products that media/resample.py spreads over its own threads
# (proxygen_core/parallel.py). OpenBLAS's own worker threads would spin after each call and take a core from
# OCIO and x264 (measured at 4K: the proxy stage 0.10 s instead of 0.08 s). Read when numpy loads, so set here
# before any of our modules imports it; a value the caller set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
