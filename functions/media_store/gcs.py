"""Media in a Cloud Storage bucket, through the JSON API and functions/http_client.py.

No client library (google-cloud-storage pulls in far more than the worker needs). Requests
(Cloud Storage JSON API v1, https://cloud.google.com/storage/docs/json_api/v1/objects):

    upload  POST   https://storage.googleapis.com/upload/storage/v1/b/BUCKET/o?uploadType=media&name=NAME
                   (body: the bytes; Content-Type: the object's type; "replaces any existing object
                   with the same name", so a retried upload is idempotent)
    read    GET    https://storage.googleapis.com/storage/v1/b/BUCKET/o/NAME?alt=media
    exists  GET    https://storage.googleapis.com/storage/v1/b/BUCKET/o/NAME   (404 when absent)
    copy    POST   .../o/NAME/rewriteTo/b/BUCKET/o/NEW   (repeat with rewriteToken until done)
    delete  DELETE .../o/NAME   (204; 404 when already gone)

NAME is URL-encoded as one path segment ("/" becomes %2F). Links are the authenticated-browser
address https://storage.cloud.google.com/BUCKET/NAME: it opens for a signed-in Google account
that has read access to the bucket (storage.objects.get), and for nobody else. The bucket is
created by scripts/deploy.sh with uniform bucket-level access and public access prevention
enforced, so no object can ever be made public by mistake.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import quote

from ..gcp_auth import LazyRestClient, adc_session as gcp_adc_session
from ..http_client import HttpClient, HttpUnavailable
from .port import MediaUnavailable, valid_name

API = "https://storage.googleapis.com"
BROWSER = "https://storage.cloud.google.com"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"


def adc_session():
    """An authorised requests session with the runtime service account (metadata server)."""
    return gcp_adc_session(SCOPE, MediaUnavailable, "Cloud Storage")


class GcsMediaStore(LazyRestClient):
    HTTP_OPTIONS = {"timeout": (5.0, 60.0), "retries": 3, "backoff": 0.5}

    def __init__(self, bucket: str, *, http: HttpClient | None = None,
                 session_factory: Callable[[], object] = adc_session, api: str = API):
        self.bucket = bucket
        self.api = api.rstrip("/")
        self._http = http
        self._session_factory = session_factory

    def _object(self, name: str) -> str:
        if not valid_name(name):
            raise ValueError(f"not a media object name: {name!r}")
        return f"{self.api}/storage/v1/b/{self.bucket}/o/{quote(name, safe='')}"

    def _call(self, method: str, url: str, **kw):
        try:
            return self.http.request(method, url, **kw)
        except HttpUnavailable as e:
            raise MediaUnavailable(f"Cloud Storage: {e}") from e

    @staticmethod
    def _fail(what: str, resp) -> MediaUnavailable:
        error = resp.body.get("error", {}) if isinstance(resp.body, dict) else {}
        message = error.get("message", "") if isinstance(error, dict) else ""
        return MediaUnavailable(f"Cloud Storage {what}: HTTP {resp.status} {message}"[:300])

    def _found(self, what: str, resp) -> bool:
        """True for 2xx, False for 404 (no such object), MediaUnavailable otherwise."""
        if resp.status == 404:
            return False
        if not resp.ok:
            raise self._fail(what, resp)
        return True

    def put(self, name: str, data: bytes, mime: str) -> None:
        if not valid_name(name):
            raise ValueError(f"not a media object name: {name!r}")
        resp = self._call("POST", f"{self.api}/upload/storage/v1/b/{self.bucket}/o",
                          params={"uploadType": "media", "name": name}, data=data,
                          headers={"Content-Type": mime}, idempotent=True)
        if not resp.ok:
            raise self._fail("upload", resp)

    def get(self, name: str) -> tuple[bytes, str] | None:
        resp = self._call("GET", self._object(name), params={"alt": "media"}, max_bytes=200 * 1024 * 1024)
        if resp.status == 404:
            return None
        if not resp.ok:
            raise self._fail("read", resp)
        return resp.body, resp.headers.get("Content-Type", "application/octet-stream")

    def exists(self, name: str) -> bool:
        return self._found("lookup", self._call("GET", self._object(name)))

    def copy(self, name: str, new_name: str) -> None:
        url = f"{self._object(name)}/rewriteTo/b/{self.bucket}/o/{quote(new_name, safe='')}"
        if not valid_name(new_name):
            raise ValueError(f"not a media object name: {new_name!r}")
        token = None
        for _ in range(50):  # a rewrite within one bucket finishes in one call for our sizes
            resp = self._call("POST", url, params={"rewriteToken": token} if token else None, json={},
                              idempotent=True)
            if not resp.ok or not isinstance(resp.body, dict):
                raise self._fail("copy", resp)
            if resp.body.get("done"):
                return
            token = resp.body.get("rewriteToken")
        raise MediaUnavailable(f"Cloud Storage copy of {name} did not finish")

    def delete(self, name: str) -> bool:
        return self._found("delete", self._call("DELETE", self._object(name)))

    def url(self, name: str) -> str:
        return f"{BROWSER}/{self.bucket}/{name}"

    def name_of(self, url: str) -> str | None:
        prefix = f"{BROWSER}/{self.bucket}/"
        url = url.strip()
        if not url.startswith(prefix):
            return None
        name = url[len(prefix):]
        return name if valid_name(name) else None
