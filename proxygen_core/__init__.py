"""proxygen core: colour-managed review media (JPEG thumbnail, H.264 proxy) from VFX frames.

Plain library, no Dagster import: usable from scripts, the ``proxygen`` CLI or any orchestrator.
"""
__version__ = "0.1.0"
