"""Concurrent callers within a short window share one write (intake: one request per burst)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable


class Coalescer:
    """Concurrent callers within a short window share one write; each gets its own results.

    The first caller to arrive while no flush is running becomes the leader: it waits until
    `window` has passed since the previous flush (no wait when idle), takes everything queued and
    calls `flush(items) -> results` once. Followers block until their items are durably written,
    then return their results, or raise the flush's exception.
    """

    def __init__(self, flush: Callable[[list], list], *, window: float = 1.0, max_items: int = 500,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.flush, self.window, self.max_items = flush, window, max_items
        self.clock, self.sleep = clock, sleep
        self.cond = threading.Condition()
        self.queue: list[_Pending] = []
        self.busy = False
        self.last = float("-inf")
        self.flushes = 0
        self.items = 0

    def submit(self, items: list) -> list:
        entry = _Pending(list(items))
        with self.cond:
            self.queue.append(entry)
            while not entry.done:
                if not self.busy:
                    self.busy = True
                    break
                self.cond.wait()
            else:
                return entry.result()
        try:
            while not entry.done:
                wait = self.last + self.window - self.clock()
                if wait > 0:
                    self.sleep(wait)
                with self.cond:
                    batch, count = [], 0
                    while self.queue and (not batch or count + len(self.queue[0].items) <= self.max_items):
                        nxt = self.queue.pop(0)
                        batch.append(nxt)
                        count += len(nxt.items)
                    self.last = self.clock()
                self._run(batch)
        finally:
            with self.cond:
                self.busy = False
                self.cond.notify_all()
        return entry.result()

    def _run(self, batch: list["_Pending"]) -> None:
        flat = [item for p in batch for item in p.items]
        try:
            results = self.flush(flat) if flat else []
            error = None
        except BaseException as e:  # every waiter must learn about it
            results, error = [], e
        self.flushes += 1
        self.items += len(flat)
        with self.cond:
            at = 0
            for p in batch:
                if error is None:
                    p.results = results[at:at + len(p.items)]
                    at += len(p.items)
                p.error = error
                p.done = True
            self.cond.notify_all()


@dataclass
class _Pending:
    items: list
    results: list = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False

    def result(self) -> list:
        if self.error is not None:
            raise self.error
        return self.results
