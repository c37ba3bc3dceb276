"""Meta's Graph API: WhatsApp Cloud API `/{phone-number-id}/messages` and the Messenger Send API.

Every call goes through `functions.http_client.HttpClient` (timeouts, bounded retries). A POST
that may have been applied is not retried here: the caller records the failure and the sweep
tries again later. Errors come back as `SendResult` with Meta's code, never as exceptions.
A channel without its token (WhatsApp: WHATSAPP_ACCESS_TOKEN; Facebook/Instagram:
META_PAGE_ACCESS_TOKEN) is written to the local outbox instead.
"""
from __future__ import annotations

import re

from ..http_client import HttpClient, HttpUnavailable
from ..logs import log
from .outbox import OutboxMessenger
from .port import NOT_CONFIGURED, SendResult, Template

WHATSAPP_TEXT_LIMIT = 4096
MESSENGER_TEXT_LIMIT = 2000
TEMPLATE_PARAM_LIMIT = 1024
_BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[0-9A-Za-z]+$")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def template_param(value: str) -> str:
    """Template parameters may not hold new lines, tabs or more than 4 spaces in a row."""
    flat = re.sub(r"\s+", " ", value or "").strip() or "-"
    return _clip(flat, TEMPLATE_PARAM_LIMIT)


def whatsapp_recipient(to: str) -> dict:
    """A phone number goes in `to`; a business-scoped user id (no phone known) in `recipient`."""
    return {"recipient": to} if _BSUID.match(to) else {"to": to}


class GraphMessenger:
    def __init__(self, *, graph_url: str, whatsapp_token: str = "", phone_number_id: str = "",
                 page_token: str = "", http: HttpClient | None = None, fallback: OutboxMessenger | None = None):
        self.graph_url = graph_url.rstrip("/")
        self.whatsapp_token = whatsapp_token
        self.phone_number_id = phone_number_id
        self.page_token = page_token
        self.http = http or HttpClient(timeout=(3.05, 10.0), retries=2)
        self.fallback = fallback

    @classmethod
    def from_settings(cls, settings, http: HttpClient | None = None) -> "GraphMessenger":
        # In the cloud the outbox would be an instance's /tmp that nobody reads: a channel
        # without its token fails there (the sweep notes it in the row), it never pretends.
        return cls(graph_url=settings.meta_graph_url, whatsapp_token=settings.whatsapp_access_token,
                   phone_number_id=settings.whatsapp_phone_number_id,
                   page_token=settings.meta_page_access_token, http=http,
                   fallback=None if settings.in_cloud else OutboxMessenger(settings.outbox_dir))

    # -- the port ----------------------------------------------------------------------------
    def send_text(self, to: str, text: str, channel: str, *, tag: str = "", public: bool = False) -> SendResult:
        if channel == "WhatsApp":
            if not self.whatsapp_token:
                return self._fallback().send_text(to, text, channel, tag=tag, public=public)
            body = {"messaging_product": "whatsapp", "recipient_type": "individual", **whatsapp_recipient(to),
                    "type": "text", "text": {"preview_url": False, "body": _clip(text, WHATSAPP_TEXT_LIMIT)}}
            return self._post(f"{self.phone_number_id}/messages", body, self.whatsapp_token, channel)
        if not self.page_token:
            return self._fallback().send_text(to, text, channel, tag=tag, public=public)
        text = _clip(text, MESSENGER_TEXT_LIMIT)
        kind, _, ident = to.partition(":") if to.startswith(("comment:", "post:")) else ("", "", to)
        if kind and public:
            edge = "replies" if channel == "Instagram" else "comments"
            return self._post(f"{ident}/{edge}", {"message": text}, self.page_token, channel)
        if kind:
            # A private reply to a public comment or visitor post (allowed once, within 7 days).
            body = {"recipient": {f"{kind}_id": ident}, "message": {"text": text}}
        else:
            body = {"recipient": {"id": ident}, "message": {"text": text}, "messaging_type": "RESPONSE"}
            if tag:
                body.update(messaging_type="MESSAGE_TAG", tag=tag)
        return self._post("me/messages", body, self.page_token, channel)

    def send_template(self, to: str, template: Template, channel: str) -> SendResult:
        if channel != "WhatsApp":
            return self.send_text(to, " ".join(template.params), channel, tag="HUMAN_AGENT")
        if not self.whatsapp_token:
            return self._fallback().send_template(to, template, channel)
        components = []
        if template.params:
            components.append({"type": "body", "parameters": [
                {"type": "text", "text": template_param(p)} for p in template.params]})
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **whatsapp_recipient(to),
                "type": "template", "template": {"name": template.name, "language": {"code": template.language},
                                                 "components": components}}
        return self._post(f"{self.phone_number_id}/messages", body, self.whatsapp_token, channel)

    # -- plumbing ----------------------------------------------------------------------------
    def _fallback(self) -> OutboxMessenger | _Unconfigured:
        return self.fallback if self.fallback is not None else _Unconfigured()

    def _post(self, path: str, body: dict, token: str, channel: str) -> SendResult:
        url = f"{self.graph_url}/{path}"
        try:
            resp = self.http.request("POST", url, json=body, headers={"Authorization": f"Bearer {token}"},
                                     idempotent=False)
        except HttpUnavailable as e:
            log("WARNING", "graph send failed", channel=channel, error=str(e), maybe_sent=e.maybe_applied)
            # A message that may have gone out is not retried blindly: that is the caller's call.
            return SendResult(False, "", None, str(e), retry_later=not e.maybe_applied)
        data = resp.body if isinstance(resp.body, dict) else {}
        if resp.ok:
            messages = data.get("messages") or [{}]
            message_id = str(messages[0].get("id") or data.get("message_id") or data.get("id") or "")
            return SendResult(True, message_id)
        err = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = err.get("code")
        sub = err.get("error_subcode")
        code = sub if sub == 2018278 else code  # Messenger: outside the allowed window
        code = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
        title = str(err.get("message") or f"HTTP {resp.status}")[:200]
        result = SendResult.failed(code, title)
        if resp.status >= 500 or resp.status == 429:
            result = SendResult(False, "", code, title, retry_later=True, window_closed=result.window_closed)
        if code == 190:
            log("CRITICAL", "graph access token rejected: renew the system-user token", channel=channel)
        else:
            log("WARNING", "graph send refused", channel=channel, status=resp.status, code=code, error=title)
        return result


class _Unconfigured:
    """A channel whose token is not set, where no outbox is read: every send fails, visibly."""

    def send_text(self, to: str, text: str, channel: str, *, tag: str = "", public: bool = False) -> SendResult:
        log("ERROR", "no access token for this channel; answer not sent", channel=channel)
        return SendResult(False, "", None, NOT_CONFIGURED)

    def send_template(self, to: str, template: Template, channel: str) -> SendResult:
        return self.send_text(to, "", channel)
