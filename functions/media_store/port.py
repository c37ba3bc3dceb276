"""The media store port: put, get, copy, delete objects by name; turn names into links and back."""
from __future__ import annotations

import re
from typing import Protocol

from ..model import StorageUnavailable

# Object names we write: kasus/2026/KMC-261205-AB12C-1.jpg (a case's files), arsip/2026/... (moved
# with an archived case), masuk/2026/... (a web-form photo waiting for the worker); nothing else
# is accepted back from a URL or a request path (no "..", no absolute paths, no odd characters).
NAME = re.compile(r"^(kasus|arsip|masuk)/[0-9]{4}/[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class MediaUnavailable(StorageUnavailable):
    """The store could not be reached or refused the operation: the job waits and is retried
    (the Meta media id stays valid for 7 days), `archive` stops before removing anything."""


def valid_name(name: str) -> bool:
    return bool(NAME.match(name)) and ".." not in name


class MediaStore(Protocol):
    def put(self, name: str, data: bytes, mime: str) -> None: ...

    def get(self, name: str) -> tuple[bytes, str] | None: ...  # (bytes, mime) or None when absent

    def exists(self, name: str) -> bool: ...

    def copy(self, name: str, new_name: str) -> None: ...

    def delete(self, name: str) -> bool: ...  # True when something was deleted

    def url(self, name: str) -> str: ...  # what staff click in the Tautan cell

    def name_of(self, url: str) -> str | None: ...  # the object a link of ours points at
