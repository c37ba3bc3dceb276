"""A messenger that records what would reach the citizen and can be told to fail."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from functions.messaging.port import SendResult, Template


@dataclass
class Sent:
    to: str
    channel: str
    text: str = ""
    template: Template | None = None
    tag: str = ""
    public: bool = False
    message_id: str = ""


@dataclass
class FakeMessenger:
    sent: list[Sent] = field(default_factory=list)
    text_results: list[SendResult] = field(default_factory=list)  # consumed first, then success
    template_results: list[SendResult] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _result(self, queue: list[SendResult]) -> SendResult:
        if queue:
            return queue.pop(0)
        return SendResult(True, f"wamid.OUT{next(self._ids):06d}")

    def send_text(self, to, text, channel, *, tag="", public=False) -> SendResult:
        result = self._result(self.text_results)
        self.sent.append(Sent(to, channel, text=text, tag=tag, public=public, message_id=result.message_id))
        return result

    def send_template(self, to, template, channel) -> SendResult:
        result = self._result(self.template_results)
        self.sent.append(Sent(to, channel, template=template, message_id=result.message_id))
        return result

    def texts_to(self, to: str) -> list[str]:
        return [s.text for s in self.sent if s.to == to and s.template is None]
