"""Indonesian transcripts of voice notes: Google Cloud Speech-to-Text v1, synchronous REST.

    POST https://speech.googleapis.com/v1/speech:recognize
    {"config": {"encoding": "OGG_OPUS", "sampleRateHertz": 16000, "languageCode": "id-ID",
                "enableAutomaticPunctuation": true},
     "audio": {"content": base64(bytes)}}
    -> {"results": [{"alternatives": [{"transcript": "...", "confidence": 0.93}]}, ...]}

Synchronous recognition takes audio of one minute at most
(https://cloud.google.com/speech-to-text/docs/basics: "Synchronous Recognition ... limited to
audio data of 1 minute or less"); OGG_OPUS needs a sample rate of 8000, 12000, 16000, 24000 or
48000 Hz, read here from the OpusHead header (RFC 7845 5.1, "input sample rate").

A longer note (up to MAX_LONG_SECONDS) already stored in the bucket is read from there with
asynchronous recognition, polled until done within the worker's time:

    POST https://speech.googleapis.com/v1/speech:longrunningrecognize
    {"config": {...}, "audio": {"uri": "gs://BUCKET/kasus/2026/..."}}   -> {"name": "<operation>"}
    GET  https://speech.googleapis.com/v1/operations/<operation>
         -> {"done": true, "response": {"results": [...]}}  or {"done": true, "error": {...}}

(https://cloud.google.com/speech-to-text/docs/reference/rest/v1/speech/longrunningrecognize).
Other audio formats are kept untranscribed (the caller says so in the row).
"""
from __future__ import annotations

import base64
import struct
import time

from ..gcp_auth import LazyRestClient, adc_session as gcp_adc_session
from ..http_client import HttpClient, HttpUnavailable
from .port import TooLongToTranscribe, TranscriptionFailed
from .sniff import opus_seconds

API = "https://speech.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MAX_SYNC_SECONDS = 59.0
MAX_LONG_SECONDS = 300.0  # five minutes: polled within the intake function's 300 s
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


class SpeechToText(LazyRestClient):
    HTTP_OPTIONS = {"timeout": (5.0, 60.0), "retries": 2, "backoff": 1.0}

    def __init__(self, *, http: HttpClient | None = None, session_factory=adc_session, api: str = API,
                 language: str = "id-ID", bucket: str = "", sleep=time.sleep, poll_seconds: float = 3.0):
        self._http = http
        self._session_factory = session_factory
        self.api = api.rstrip("/")
        self.language = language
        self.bucket = bucket
        self.sleep = sleep
        self.poll_seconds = poll_seconds

    def _config(self, ogg_opus: bytes) -> dict:
        return {"encoding": "OGG_OPUS", "sampleRateHertz": opus_rate(ogg_opus), "languageCode": self.language,
                "enableAutomaticPunctuation": True}

    def _post(self, path: str, body: dict) -> dict:
        try:
            resp = self.http.request("POST", f"{self.api}/{path}", json=body, idempotent=True)
        except HttpUnavailable as e:
            raise TranscriptionFailed(str(e)) from e
        if not resp.ok or not isinstance(resp.body, dict):
            raise TranscriptionFailed(f"Speech-to-Text HTTP {resp.status}")
        return resp.body

    def transcribe(self, ogg_opus: bytes, name: str = "") -> str:
        """The transcript ("" when no speech was heard) of a note; `name` is where the note is
        stored in the bucket (needed beyond one minute). Raises TranscriptionFailed."""
        seconds = opus_seconds(ogg_opus) or 0.0
        if seconds <= MAX_SYNC_SECONDS:
            body = {"config": self._config(ogg_opus), "audio": {"content": base64.b64encode(ogg_opus).decode("ascii")}}
            return _joined(self._post("speech:recognize", body))
        if seconds > MAX_LONG_SECONDS or not (self.bucket and name):
            raise TooLongToTranscribe(f"{seconds:.0f} s")
        started = self._post("speech:longrunningrecognize",
                             {"config": self._config(ogg_opus), "audio": {"uri": f"gs://{self.bucket}/{name}"}})
        operation = str(started.get("name") or "")
        if not operation:
            raise TranscriptionFailed("Speech-to-Text gave no operation")
        budget = min(240.0, 30.0 + seconds)
        waited = 0.0
        while waited <= budget:
            state = started if started.get("done") else self._get(operation)
            if state.get("done"):
                if state.get("error"):
                    raise TranscriptionFailed(f"Speech-to-Text: {str(state['error'].get('message', ''))[:200]}")
                return _joined(state.get("response") or {})
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds
        raise TranscriptionFailed(f"Speech-to-Text did not finish within {budget:.0f} s")

    def _get(self, operation: str) -> dict:
        try:
            resp = self.http.request("GET", f"{self.api}/operations/{operation}")
        except HttpUnavailable as e:
            raise TranscriptionFailed(str(e)) from e
        if not resp.ok or not isinstance(resp.body, dict):
            raise TranscriptionFailed(f"Speech-to-Text HTTP {resp.status}")
        return resp.body


def _joined(body: dict) -> str:
    parts = []
    for result in body.get("results") or []:
        alternatives = result.get("alternatives") if isinstance(result, dict) else None
        if alternatives and isinstance(alternatives[0], dict):
            parts.append(str(alternatives[0].get("transcript") or "").strip())
    return " ".join(p for p in parts if p)
