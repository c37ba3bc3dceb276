"""What the reliability tests share: the production adapters on the fake Sheets API and the fake
Graph API (in-process through `responses`, on virtual time), cold instances, Meta-style
redelivery, and the invariants every test checks at the end.
"""
from __future__ import annotations

import copy
import re
from contextlib import contextmanager
from functools import cache
from typing import Any, Callable, Iterator

import responses

from functions.bootstrap import Services, build
from functions.config import Settings
from functions.http_client import HttpClient
from functions.messaging.graph import GraphMessenger
from functions.schema import load_schema
from functions.queue.local import LocalQueue
from functions.server import make_app
from functions.services.intake_worker import drain_all
from tests.draining import DrainingClient
from tests.adapters.sheets_env import SheetsEnv
from tests.fakes import meta_payloads as mp
from tests.fakes.fake_graph import GRAPH, FakeGraph
from tests.fakes.fake_sheets import FakeSheets, VirtualTime

TICKET = re.compile(r"^KMC-\d{6}-[0-9A-HJKMNP-TV-Z]{4,6}$")
ADMIN = "test-admin-token"
OPEN311_KEY = "kunci-mitra-uji"
SECRETS = {
    "WHATSAPP_APP_SECRET": mp.APP_SECRET,
    "WHATSAPP_VERIFY_TOKEN": mp.VERIFY_TOKEN,
    "WHATSAPP_ACCESS_TOKEN": "EAAG-test-access-token",
    "KMC_ADMIN_TOKEN": ADMIN,
    "KMC_OPEN311_KEYS": OPEN311_KEY,
    "KMC_FORM_SECRET": "uji-rahasia-formulir-0123456789",
}


def examples(default: int, long: int) -> int:
    """max_examples for a costly property: `default` normally, `long` under `--long`."""
    from hypothesis import settings

    return long if settings.default.max_examples > 25 else default


class Crash(BaseException):
    """The process dies here: no handler catches it, the caller gets no answer."""


def google_settings(tmp_path, **extra: str) -> Settings:
    return Settings.from_env({
        "KMC_BACKEND": "google", "KMC_SPREADSHEET_ID": "kmc-aduan", "KMC_CONTACTS_SPREADSHEET_ID": "kmc-kontak",
        "KMC_DATA_DIR": str(tmp_path), "WHATSAPP_PHONE_NUMBER_ID": mp.PHONE_NUMBER_ID,
        "DIGEST_TO": "bupati@ketapangkab.go.id", "KMC_PUBLIC_URL": "https://aduan.ketapangkab.go.id",
        **SECRETS, **extra,
    })


@cache
def _bootstrapped() -> dict:
    """The two spreadsheets right after `bootstrap`, made once and copied for every stack."""
    vt = VirtualTime()
    fake = FakeSheets(clock=vt.clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        env = SheetsEnv(fake, vt, load_schema(), fake.create("KMC Aduan", "kmc-aduan"),
                        fake.create("KMC Aduan Kontak", "kmc-kontak"))
        env.workbook().bootstrap()
        env.contacts().bootstrap()
    return fake.spreadsheets


class Stack:
    """Fake Sheets + fake Graph behind `responses`, on virtual time."""

    def __init__(self, env: SheetsEnv, graph: FakeGraph, settings: Settings, clock: Callable[[], Any]):
        self.env, self.graph, self.settings, self.clock = env, graph, settings, clock
        self.instances: list[Services] = []

    def __repr__(self) -> str:  # hypothesis prints fixtures in falsifying examples
        return f"<Stack {len(self.tickets())} rows, {len(self.graph.sent)} messages sent>"

    @property
    def fake(self) -> FakeSheets:
        return self.env.fake

    def instance(self, settings: Settings | None = None, **overrides) -> Services:
        """A cold Cloud Functions instance: fresh adapters, empty caches; state only in the sheets."""
        vt = self.env.time
        kw: dict[str, Any] = dict(
            clock=self.clock, workbook=self.env.workbook(), contacts=self.env.contacts(),
            # the one durable queue of this deployment, on the stack's virtual time (backoff, leases)
            queue=LocalQueue(self.settings.data_dir / "queue.sqlite", clock=vt.clock),
            messenger=GraphMessenger(graph_url=GRAPH, whatsapp_token=self.graph.token,
                                     phone_number_id=mp.PHONE_NUMBER_ID, page_token=self.graph.token,
                                     http=HttpClient(sleep=vt.sleep)),
        )
        kw.update(overrides)
        svc = build(settings or self.settings, **kw)
        self.instances.append(svc)
        return svc

    def client(self, svc: Services | None = None):
        """A door whose POSTs are followed by one drain of the queue (the writer); see tests/draining.py."""
        svc = svc or self.instance()
        return DrainingClient(make_app(svc).test_client(), svc)

    def settle(self, rounds: int = 20) -> list:
        """A writer restarted after a crash or an outage: take over the dead process's leases and
        drain until nothing waits (virtual minutes pass between tries). Returns the results."""
        results = []
        svc = self.instance()
        svc.queue.recover()
        for _ in range(rounds):
            report = drain_all(svc, svc.queue)
            results += report.results
            if not svc.queue.stats().waiting:
                break
            self.env.time.sleep(61.0)
        return results

    # -- what is in the sheets -------------------------------------------------------------
    def rows(self) -> list[tuple[str, list[Any]]]:
        """(tab key, cells) of every row the system wrote (a cell outside the staff columns is
        filled), in every OPD tab, as the API returns it. A line staff typed into a blank row is
        theirs, not a case."""
        schema = self.env.schema
        staff = {i for i, c in enumerate(schema.columns) if c.editor == "staff"}
        titles = {o.title: o.key for o in schema.opds}
        out = []
        for sheet in self.fake.book(self.env.spreadsheet_id).sheets:
            key = titles.get(sheet.title)
            if key is None:
                continue
            for cells in self.fake.values(self.env.spreadsheet_id, sheet.title)[1:]:
                if any(str(c).strip() for i, c in enumerate(cells) if i not in staff):
                    out.append((key, cells))
        return out

    def tickets(self) -> list[str]:
        """The ticket cell of every row the system wrote (staff never move the column in these tests)."""
        i = self.env.schema.column_keys.index("ticket_id")
        return [str(cells[i]) if len(cells) > i else "" for _, cells in self.rows()]

    def tabs_of(self) -> dict[str, list[str]]:
        """ticket -> the tabs holding it."""
        i = self.env.schema.column_keys.index("ticket_id")
        out: dict[str, list[str]] = {}
        for key, cells in self.rows():
            out.setdefault(str(cells[i]) if len(cells) > i else "", []).append(key)
        return out

    def contact_tickets(self) -> list[str]:
        values = self.fake.values(self.env.contacts_id, "Kontak")
        return [str(r[0]) for r in values[1:] if r]


@contextmanager
def google_stack(tmp_path, clock, **fake_kw) -> Iterator[Stack]:
    vt = VirtualTime()
    fake = FakeSheets(clock=vt.clock, **fake_kw)
    fake.spreadsheets = copy.deepcopy(_bootstrapped())
    graph = FakeGraph(token=SECRETS["WHATSAPP_ACCESS_TOKEN"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        graph.install(rsps)
        env = SheetsEnv(fake, vt, load_schema(), "kmc-aduan", "kmc-kontak")
        yield Stack(env, graph, google_settings(tmp_path), clock)


def reset(stack: Stack) -> None:
    """Back to freshly bootstrapped sheets and an empty Graph log (between hypothesis examples)."""
    stack.fake.spreadsheets = copy.deepcopy(_bootstrapped())
    stack.fake.faults.clear()
    stack.fake.formulas_written.clear()
    stack.fake.reset_counts()
    stack.graph.sent.clear()
    stack.graph.faults.clear()
    for suffix in ("", "-wal", "-shm"):  # and an empty intake queue
        (stack.settings.data_dir / f"queue.sqlite{suffix}").unlink(missing_ok=True)


# -- the invariants -----------------------------------------------------------------------------

def assert_sheet_invariants(stack: Stack, *, staff_formulas: int = 0) -> None:
    """No formula written by the system, every data row has a well-formed, unique ticket."""
    written = stack.fake.formulas_written[staff_formulas:]
    assert written == [], f"a formula reached the sheet: {written[:3]}"
    tickets = stack.tickets()
    assert all(TICKET.match(t) for t in tickets), [t for t in tickets if not TICKET.match(t)][:5]
    assert len(tickets) == len(set(tickets)), "a ticket is stored twice"
