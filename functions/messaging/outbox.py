"""Messages without an access token: one JSON object per line in KMC_DATA_DIR/outbox/.

WhatsApp messages go to `whatsapp.jsonl`, Facebook and Instagram ones to `messenger.jsonl`.
Each line is what would have been sent, so a newcomer (and the tests) can read the conversation.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from .port import SendResult, Template

WHATSAPP_FILE = "whatsapp.jsonl"
MESSENGER_FILE = "messenger.jsonl"
_LOCK = threading.Lock()


class OutboxMessenger:
    def __init__(self, outbox: Path):
        self.outbox = outbox

    def path_for(self, channel: str) -> Path:
        return self.outbox / (WHATSAPP_FILE if channel == "WhatsApp" else MESSENGER_FILE)

    def _write(self, channel: str, record: dict) -> SendResult:
        message_id = f"outbox.{uuid.uuid4().hex}"
        line = {"id": message_id, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "channel": channel, **record}
        self.outbox.mkdir(parents=True, exist_ok=True)
        with _LOCK, open(self.path_for(channel), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        return SendResult(True, message_id)

    def send_text(self, to: str, text: str, channel: str, *, tag: str = "", public: bool = False) -> SendResult:
        record = {"to": to, "type": "text", "text": text}
        if tag:
            record["tag"] = tag
        if public:
            record["public"] = True
        return self._write(channel, record)

    def send_template(self, to: str, template: Template, channel: str) -> SendResult:
        return self._write(channel, {"to": to, "type": "template", "template": {
            "name": template.name, "language": template.language, "params": list(template.params)}})


def read_outbox(outbox: Path, channel: str = "WhatsApp") -> list[dict]:
    """Every message written so far for `channel` (tests and the demo read it)."""
    path = OutboxMessenger(outbox).path_for(channel)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
