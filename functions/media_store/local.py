"""Media on the local disk: `KMC_DATA_DIR/media/<name>`, linked as `KMC_PUBLIC_URL/media/<name>`.

The link opens only through `serve` with the admin token (functions/channels/media_files.py):
the files never sit in a public web folder. Mode 0600 files in 0700 folders.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .port import MediaUnavailable, valid_name


class LocalMediaStore:
    def __init__(self, root: Path, public_url: str):
        self.root = Path(root)
        self.base = public_url.rstrip("/") + "/media/"

    def _path(self, name: str) -> Path:
        if not valid_name(name):
            raise ValueError(f"not a media object name: {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes, mime: str) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            meta = path.with_name(path.name + ".meta")
            meta.write_text(json.dumps({"mime": mime}), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as e:
            raise MediaUnavailable(f"media disk: {type(e).__name__}") from e

    def get(self, name: str) -> tuple[bytes, str] | None:
        path = self._path(name)
        if not path.is_file():
            return None
        try:
            mime = json.loads(path.with_name(path.name + ".meta").read_text(encoding="utf-8")).get("mime")
        except (OSError, ValueError):
            mime = None
        return path.read_bytes(), mime or "application/octet-stream"

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def copy(self, name: str, new_name: str) -> None:
        found = self.get(name)
        if found is None:
            raise MediaUnavailable(f"media object missing: {name}")
        self.put(new_name, *found)

    def delete(self, name: str) -> bool:
        path = self._path(name)
        path.with_name(path.name + ".meta").unlink(missing_ok=True)
        if path.is_file():
            path.unlink()
            return True
        return False

    def url(self, name: str) -> str:
        return self.base + name

    def name_of(self, url: str) -> str | None:
        url = url.strip()
        if not url.startswith(self.base):
            return None
        name = url[len(self.base):]
        return name if valid_name(name) else None
