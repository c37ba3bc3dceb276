"""What the media step needs from its adapters (download, transcription), as plain types."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fetched:
    data: bytes
    declared_mime: str = ""  # what the sender's platform says; the bytes decide (sniff.py)


class FetchFailed(Exception):
    """A media item that cannot be kept; `reason` is Indonesian, for the row and the digest."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code  # expired | too_large | mismatch | unreachable | corrupt | no_token
        self.reason = reason


class TranscriptionFailed(Exception):
    pass


class TooLongToTranscribe(TranscriptionFailed):
    """Longer than the transcriber takes (the note is kept untranscribed)."""


MB = 1024 * 1024


def too_large(size: int, limit: int) -> FetchFailed:
    return FetchFailed("too_large", f"berkas {size / MB:.1f} MB melebihi batas {limit / MB:g} MB")
