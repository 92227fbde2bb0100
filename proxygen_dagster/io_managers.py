"""IO managers that move each key of a (possibly ranged) partition batch to and from the bucket.

The built-in IO managers refuse outputs for several partitions; these loop over
``context.asset_partition_keys``. Every key gets a small JSON state object under
``.proxies/.pipeline/<asset>/<key>.json`` (ignored by the sensor: it is under ``.proxies/``) saying what
it holds or why it failed; media payloads go to their real keys. Values are memoised per run so the
in-process executor hands a frame from one step to the next without a round trip.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import PrivateAttr

from proxygen_core.media import Media
from proxygen_core.steps import Failed, SourceFrame, publish
from proxygen_core.working import read_working_exr, write_working_exr

from .resources import MediaStorage

STATE_PREFIX = ".proxies/.pipeline"


def state_key(asset: str, key: str) -> str:
    return f"{STATE_PREFIX}/{asset}/{key}.json"


def last_processed_etag(store, key: str) -> str | None:
    """The etag the pipeline last inspected for this key (None if never, or if it failed)."""
    data = store.get_bytes_if_exists(state_key("source_frame", key))
    if data is None:
        return None
    state = json.loads(data)
    return state.get("value", {}).get("etag") if state.get("status") == "ok" else None


class _BatchIOManager(ConfigurableIOManager):
    storage: MediaStorage
    _memo: dict = PrivateAttr(default_factory=dict)


    def _asset(self, context: OutputContext | InputContext) -> str:
        return context.asset_key.to_user_string()

    # subclasses: how one good item is stored and read back
    def _store_item(self, store, asset: str, key: str, item: Any) -> dict:
        return asdict(item) if hasattr(item, "__dataclass_fields__") else dict(item)

    def _load_item(self, store, asset: str, key: str, state: dict) -> Any:
        return state

    def handle_output(self, context: OutputContext, obj: dict[str, Any]) -> None:
        if obj is None:
            return
        store = self.storage.store()
        asset = self._asset(context)

        def save(key: str) -> None:
            item = obj.get(key)
            if item is None:
                return
            if isinstance(item, Failed):
                state = {"status": "failed", **asdict(item)}
            else:
                state = {"status": "ok", "value": self._store_item(store, asset, key, item)}
            store.put_bytes(state_key(asset, key), json.dumps(state, default=str).encode(), "application/json")
            self._memo[(asset, key)] = item if isinstance(item, Failed) else self._memo_value(item, state)

        # Encoding and uploads release the GIL: overlap two keys (more only adds thread contention).
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(save, context.asset_partition_keys))

    def _memo_value(self, item: Any, state: dict) -> Any:
        return item

    def load_input(self, context: InputContext) -> dict[str, Any]:
        store = self.storage.store()
        asset = self._asset(context)
        out: dict[str, Any] = {}
        for key in context.asset_partition_keys:
            if (asset, key) in self._memo:
                out[key] = self._memo[(asset, key)]
                continue
            state = json.loads(store.get_bytes(state_key(asset, key)))
            if state["status"] == "failed":
                out[key] = Failed(state["key"], state["step"], state["error"])
            else:
                out[key] = self._load_item(store, asset, key, state["value"])
        return out


class SourceFrameIOManager(_BatchIOManager):
    """Source records (probe, size, etag, mtime) as JSON; the pixels stay in the source object."""

    def _load_item(self, store, asset: str, key: str, state: dict) -> SourceFrame:
        return SourceFrame(**state)


class WorkingFrameIOManager(_BatchIOManager):
    """Working frames as half-float EXR (scene-linear, proxy size) with their colour decision inside."""

    def _store_item(self, store, asset: str, key: str, item: Any) -> dict:
        folder = Path(tempfile.mkdtemp(prefix="proxygen-io-"))
        try:
            path = folder / "working.exr"
            write_working_exr(item, path)
            exr_key = f"{STATE_PREFIX}/{asset}/{key}.exr"
            info = store.upload_file(path, exr_key, tags={"media_type": "working_frame"})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return {"exr_key": exr_key, "size_bytes": info.size, "width": item.width, "height": item.height}

    def _load_item(self, store, asset: str, key: str, state: dict) -> Any:
        folder = Path(tempfile.mkdtemp(prefix="proxygen-io-"))
        try:
            path = folder / "working.exr"
            path.write_bytes(store.get_bytes(state["exr_key"]))
            return read_working_exr(path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


class MediaIOManager(_BatchIOManager):
    """Thumbnails and proxies: uploaded to ``<dir>/.proxies/`` with ContentType, tags and size metadata.

    The asset hands over ``(local_path, Media)``; the local file is removed once uploaded.
    """

    def _store_item(self, store, asset: str, key: str, item: Any) -> dict:
        path, media = item
        try:
            published = publish(store, media.kind, media.path, Path(path), media.width, media.height,
                                media.colorspace, media.seconds)
        finally:
            Path(path).unlink(missing_ok=True)
        return asdict(published)

    def _memo_value(self, item: Any, state: dict) -> Any:
        return Media(**state["value"])

    def _load_item(self, store, asset: str, key: str, state: dict) -> Media:
        return Media(**state)
