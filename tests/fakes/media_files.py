"""Real files of each kind a citizen sends, built in memory, and fakes of the Graph API media
endpoints, Cloud Storage and Speech-to-Text at the HTTP boundary (`responses`).

The Graph fake behaves as Meta documents it (developers.facebook.com/documentation/business-
messaging/whatsapp/business-phone-numbers/media/): `GET /{media-id}` with the bearer token answers
the short-lived `url`, `mime_type`, `sha256`, `file_size`; the url is fetched with the same token
(401 without it); an expired media id answers 400 with an OAuthException-style error, an expired
url 404.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

GRAPH = "https://graph.facebook.com/v21.0"
LOOKASIDE = "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
TOKEN = "EAAtest-media-token"


# -- files ---------------------------------------------------------------------------------------

def jpeg(*, gps: tuple[float, float] | None = None, size=(64, 48), make: str = "SAMSUNG SM-A515F") -> bytes:
    """A phone photo: EXIF with the camera make and model and, when given, the GPS position."""
    from PIL import Image

    img = Image.new("RGB", size, (180, 120, 60))
    exif = Image.Exif()
    exif[0x010F] = make.split()[0]  # Make
    exif[0x0110] = make  # Model
    if gps is not None:
        lat, lng = gps
        exif[0x8825] = {1: "S" if lat < 0 else "N", 2: _dms(abs(lat)), 3: "W" if lng < 0 else "E", 4: _dms(abs(lng))}
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60, 2)
    return (float(d), float(m), s)


def png(size=(20, 20)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 0, 128)).save(out, format="PNG")
    return out.getvalue()


def _ogg_page(payload: bytes, granule: int, seq: int, flags: int) -> bytes:
    segments = []
    rest = len(payload)
    while rest >= 255:
        segments.append(255)
        rest -= 255
    segments.append(rest)
    header = b"OggS" + struct.pack("<BBqIII", 0, flags, granule, 0x4B4D43, seq, 0) + bytes([len(segments)]) \
        + bytes(segments)
    page = header + payload
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def ogg_opus(seconds: float, *, input_rate: int = 16000, pre_skip: int = 312) -> bytes:
    """An Ogg/Opus voice note as WhatsApp records it: OpusHead (RFC 7845 5.1), OpusTags, and audio
    pages whose last granule position gives the length at 48 kHz."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, input_rate, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 8) + b"WhatsApp" + struct.pack("<I", 0)
    frames = b"\xfc\xff\xfe" * 40  # opaque Opus packets (never decoded here)
    total = int(seconds * 48000) + pre_skip
    return (_ogg_page(head, 0, 0, 0x02) + _ogg_page(tags, 0, 1, 0) + _ogg_page(frames, total // 2, 2, 0)
            + _ogg_page(frames, total, 3, 0x04))


def pdf() -> bytes:
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document>Surat keterangan</w:document>")
    return out.getvalue()


# -- Graph API media -----------------------------------------------------------------------------

@dataclass
class GraphMedia:
    """Media ids Meta would know; each id's bytes, declared type, and whether it has expired."""
    items: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    expired_urls: set[str] = field(default_factory=set)  # the lookup works, the url answers 404
    expired_ids: set[str] = field(default_factory=set)  # the media id itself is gone (after 7 days)
    hits: list[str] = field(default_factory=list)

    def add(self, media_id: str, data: bytes, mime: str) -> None:
        self.items[media_id] = (data, mime)

    def install(self, rsps, graph: str = GRAPH) -> None:
        rsps.add_callback("GET", re.compile(re.escape(graph) + r"/(\d+)$"), callback=self._lookup)
        rsps.add_callback("GET", re.compile(re.escape(LOOKASIDE) + r".*"), callback=self._download)

    @staticmethod
    def _authorised(request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def _lookup(self, request):
        self.hits.append(request.url)
        if not self._authorised(request):
            return 401, {}, json.dumps({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                                  "code": 190}})
        media_id = urlsplit(request.url).path.rsplit("/", 1)[-1]
        if media_id not in self.items or media_id in self.expired_ids:
            return 400, {}, json.dumps({"error": {"message": "Unsupported get request. Object with ID does not exist",
                                                  "type": "GraphMethodException", "code": 100}})
        data, mime = self.items[media_id]
        url = f"{LOOKASIDE}?mid={media_id}&ext=1764900000&hash=ATtest"
        return 200, {}, json.dumps({"messaging_product": "whatsapp", "url": url, "mime_type": mime,
                                    "sha256": hashlib.sha256(data).hexdigest(), "file_size": len(data),
                                    "id": media_id})

    def _download(self, request):
        self.hits.append(request.url)
        if not self._authorised(request):
            return 401, {}, "Unauthorized"
        media_id = parse_qs(urlsplit(request.url).query).get("mid", [""])[0]
        if media_id not in self.items or media_id in self.expired_urls:
            return 404, {}, "URL signature expired"
        data, mime = self.items[media_id]
        return 200, {"Content-Type": mime}, data


# -- Cloud Storage JSON API ------------------------------------------------------------------------

class FakeBucket:
    """One bucket behind storage.googleapis.com: uploads (uploadType=media, name required), reads
    (alt=media), metadata, rewriteTo and delete, with Cloud Storage's 404 for a missing object."""
    API = "https://storage.googleapis.com"

    def __init__(self, name: str):
        self.name = name
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.down = False  # every call answers 503 (an outage)

    def install(self, rsps) -> None:
        base = re.escape(f"{self.API}/storage/v1/b/{self.name}/o/")
        rsps.add_callback("POST", re.compile(re.escape(f"{self.API}/upload/storage/v1/b/{self.name}/o") + r"\?.*"),
                          callback=self._upload)
        rsps.add_callback("POST", re.compile(base + r"[^/?]+/rewriteTo/b/[^/]+/o/[^/?]+.*"), callback=self._rewrite)
        rsps.add_callback("GET", re.compile(base + r"[^/?]+(\?.*)?$"), callback=self._get)
        rsps.add_callback("DELETE", re.compile(base + r"[^/?]+$"), callback=self._delete)

    @staticmethod
    def _missing():
        return 404, {}, json.dumps({"error": {"code": 404, "message": "No such object"}})

    def _name(self, request, index: int = -1) -> str:
        path = urlsplit(request.url).path
        return unquote(path.split("/o/")[1].split("/")[0] if index == 0 else path.rsplit("/o/", 1)[1])

    def _upload(self, request):
        if self.down:
            return 503, {}, json.dumps({"error": {"code": 503, "message": "Backend Error"}})
        query = parse_qs(urlsplit(request.url).query)
        if query.get("uploadType") != ["media"] or not query.get("name"):
            return 400, {}, json.dumps({"error": {"code": 400, "message": "Required parameter: name"}})
        if not request.headers.get("Content-Type"):
            return 400, {}, json.dumps({"error": {"code": 400, "message": "Content-Type required"}})
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        self.objects[query["name"][0]] = (body, request.headers["Content-Type"])
        return 200, {}, json.dumps({"name": query["name"][0], "bucket": self.name, "size": str(len(body))})

    def _get(self, request):
        name = self._name(request)
        if name not in self.objects:
            return self._missing()
        data, mime = self.objects[name]
        if parse_qs(urlsplit(request.url).query).get("alt") == ["media"]:
            return 200, {"Content-Type": mime}, data
        return 200, {}, json.dumps({"name": name, "contentType": mime, "size": str(len(data))})

    def _rewrite(self, request):
        src = self._name(request, 0)
        if src not in self.objects:
            return self._missing()
        dst = unquote(urlsplit(request.url).path.rsplit("/o/", 1)[1])
        self.objects[dst] = self.objects[src]
        return 200, {}, json.dumps({"kind": "storage#rewriteResponse", "done": True,
                                    "totalBytesRewritten": str(len(self.objects[dst][0]))})

    def _delete(self, request):
        name = self._name(request)
        if self.objects.pop(name, None) is None:
            return self._missing()
        return 204, {}, ""


# -- Speech-to-Text v1 ---------------------------------------------------------------------------

class FakeSpeech:
    """`speech:recognize`: enforces what the v1 API checks for OGG_OPUS (a sample rate among 8000,
    12000, 16000, 24000, 48000; a languageCode; base64 audio content; at most one minute of audio)
    and answers `transcript`. `speech:longrunningrecognize` reads `gs://` audio from `bucket` (404
    when the object is missing) and answers an operation, done on the second `operations.get`."""
    URL = "https://speech.googleapis.com/v1/speech:recognize"
    LONG = "https://speech.googleapis.com/v1/speech:longrunningrecognize"
    OPERATIONS = "https://speech.googleapis.com/v1/operations/"

    def __init__(self, transcript: str = "", status: int = 200, bucket: "FakeBucket | None" = None):
        self.transcript = transcript
        self.status = status
        self.bucket = bucket
        self.requests: list[dict] = []
        self.polls = 0

    def install(self, rsps) -> None:
        rsps.add_callback("POST", self.URL, callback=self._recognize)
        rsps.add_callback("POST", self.LONG, callback=self._long)
        rsps.add_callback("GET", re.compile(re.escape(self.OPERATIONS) + r"\d+$"), callback=self._operation)

    def _results(self) -> list:
        return [{"alternatives": [{"transcript": self.transcript, "confidence": 0.91}]}] if self.transcript else []

    def _long(self, request):
        body = json.loads(request.body)
        self.requests.append(body)
        uri = (body.get("audio") or {}).get("uri", "")
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if self.bucket is None or bucket != self.bucket.name or name not in self.bucket.objects:
            return 404, {}, json.dumps({"error": {"code": 404, "message": f"Requested entity was not found: {uri}"}})
        return 200, {}, json.dumps({"name": "7215893101"})

    def _operation(self, request):
        self.polls += 1
        if self.polls < 2:
            return 200, {}, json.dumps({"name": "7215893101", "metadata": {"progressPercent": 40}})
        return 200, {}, json.dumps({"name": "7215893101", "done": True,
                                    "response": {"@type": "type.googleapis.com/google.cloud.speech.v1."
                                                          "LongRunningRecognizeResponse", "results": self._results()}})

    def _recognize(self, request):
        body = json.loads(request.body)
        self.requests.append(body)
        config = body.get("config") or {}
        if config.get("encoding") == "OGG_OPUS" and config.get("sampleRateHertz") not in (8000, 12000, 16000, 24000, 48000):
            return 400, {}, json.dumps({"error": {"code": 400, "message": "Invalid sample rate for OGG_OPUS"}})
        if not config.get("languageCode"):
            return 400, {}, json.dumps({"error": {"code": 400, "message": "Invalid recognition 'config': missing language"}})
        audio = base64.b64decode(body["audio"]["content"], validate=True)
        if not audio.startswith(b"OggS"):
            return 400, {}, json.dumps({"error": {"code": 400, "message": "bad encoding"}})
        from functions.attachments.sniff import opus_seconds

        if (opus_seconds(audio) or 0) > 60:
            return 400, {}, json.dumps({"error": {"code": 400, "message": "Sync input too long. For audio longer "
                                                  "than 1 min use LongRunningRecognize with a 'uri' parameter."}})
        if self.status != 200:
            return self.status, {}, json.dumps({"error": {"code": self.status, "message": "unavailable"}})
        return 200, {}, json.dumps({"results": self._results(), "totalBilledTime": "15s"})
