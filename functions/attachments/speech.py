"""Indonesian transcripts of voice notes: Google Cloud Speech-to-Text v1, synchronous REST.

    POST https://speech.googleapis.com/v1/speech:recognize
    {"config": {"encoding": "OGG_OPUS", "sampleRateHertz": 16000, "languageCode": "id-ID",
                "enableAutomaticPunctuation": true},
     "audio": {"content": base64(bytes)}}
    -> {"results": [{"alternatives": [{"transcript": "...", "confidence": 0.93}]}, ...]}

Synchronous recognition takes audio of one minute at most
(https://cloud.google.com/speech-to-text/docs/basics: "Synchronous Recognition ... limited to
audio data of 1 minute or less"); OGG_OPUS needs a sample rate of 8000, 12000, 16000, 24000 or
48000 Hz, read here from the OpusHead header (RFC 7845 5.1, "input sample rate"). Longer notes
and other audio formats are kept untranscribed (the caller says so in the row).
"""
from __future__ import annotations

import base64
import struct

from ..gcp_auth import adc_session as gcp_adc_session
from ..http_client import HttpClient, HttpUnavailable
from .port import TranscriptionFailed

API = "https://speech.googleapis.com/v1/speech:recognize"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MAX_SECONDS = 59.0
RATES = (8000, 12000, 16000, 24000, 48000)


def opus_rate(data: bytes) -> int:
    head = data.find(b"OpusHead")
    if head >= 0 and len(data) >= head + 16:
        rate = struct.unpack_from("<I", data, head + 12)[0]
        if rate in RATES:
            return rate
    return 48000


def adc_session():
    """An authorised requests session with the runtime service account (metadata server)."""
    return gcp_adc_session(SCOPE, TranscriptionFailed, "Speech-to-Text")


class SpeechToText:
    def __init__(self, *, http: HttpClient | None = None, session_factory=adc_session, api: str = API,
                 language: str = "id-ID"):
        self._http = http
        self._session_factory = session_factory
        self.api = api
        self.language = language

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            self._http = HttpClient(timeout=(5.0, 60.0), retries=2, backoff=1.0, session=self._session_factory())
        return self._http

    def transcribe(self, ogg_opus: bytes) -> str:
        """The transcript ("" when no speech was heard); raises TranscriptionFailed."""
        body = {"config": {"encoding": "OGG_OPUS", "sampleRateHertz": opus_rate(ogg_opus),
                           "languageCode": self.language, "enableAutomaticPunctuation": True},
                "audio": {"content": base64.b64encode(ogg_opus).decode("ascii")}}
        try:
            resp = self.http.request("POST", self.api, json=body, idempotent=True)
        except HttpUnavailable as e:
            raise TranscriptionFailed(str(e)) from e
        if not resp.ok or not isinstance(resp.body, dict):
            raise TranscriptionFailed(f"Speech-to-Text HTTP {resp.status}")
        parts = []
        for result in resp.body.get("results") or []:
            alternatives = result.get("alternatives") if isinstance(result, dict) else None
            if alternatives and isinstance(alternatives[0], dict):
                parts.append(str(alternatives[0].get("transcript") or "").strip())
        return " ".join(p for p in parts if p)
