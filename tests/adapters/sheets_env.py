"""The gspread adapter wired to the fake Sheets API through `responses` (no network), on virtual time."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import requests
import responses

from functions.schema import Schema, load_schema
from functions.stores.google import GoogleContactBook, GoogleWorkbook
from functions.stores.google.http import RetryPolicy, SheetsHTTPClient
from tests.fakes.fake_sheets import FakeSheets, VirtualTime

SERVICE_ACCOUNT = "kmc-aduan@kmc-ketapang.iam.gserviceaccount.com"


@dataclass
class SheetsEnv:
    fake: FakeSheets
    time: VirtualTime
    schema: Schema
    spreadsheet_id: str
    contacts_id: str
    clients: list[SheetsHTTPClient] = field(default_factory=list)

    def client(self, identity: str = SERVICE_ACCOUNT, *, service_account: bool = True, **kw) -> SheetsHTTPClient:
        """A client whose requests the fake sees as coming from `identity` (a bearer token);
        `service_account=False` makes it a person's login (the client then knows no SA email)."""
        kw.setdefault("retry", RetryPolicy())
        c = SheetsHTTPClient(self.session_factory(identity), clock=self.time.clock, sleep=self.time.sleep,
                             rng=lambda: 0.5, service_account_email=identity if service_account else "", **kw)
        self.clients.append(c)
        return c

    def session_factory(self, identity: str):
        token = self.fake.token_for(identity)

        def make() -> requests.Session:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            return session
        return make

    def workbook(self, client: SheetsHTTPClient | None = None, **kw) -> GoogleWorkbook:
        """A new instance (cold caches), as another Cloud Functions instance would be."""
        return GoogleWorkbook(client or self.client(), self.spreadsheet_id, self.schema,
                              clock=self.time.clock, sleep=self.time.sleep, **kw)

    def contacts(self, client: SheetsHTTPClient | None = None, **kw) -> GoogleContactBook:
        return GoogleContactBook(client or self.client(), self.contacts_id, clock=self.time.clock,
                                 sleep=self.time.sleep, **kw)

    def title(self, key: str) -> str:
        return self.schema.opd(key).title

    def col(self, key: str) -> int:
        """0-based column of a key in a freshly bootstrapped tab."""
        return self.schema.column_keys.index(key)

    def tickets(self, key: str) -> list[str]:
        """Ticket column of a tab as staff see it (header excluded, blank rows kept as '')."""
        rows = self.fake.values(self.spreadsheet_id, self.title(key))[1:]
        return [r[0] if r else "" for r in rows]


@contextmanager
def sheets_env(**fake_kw) -> Iterator[SheetsEnv]:
    vt = VirtualTime()
    fake_kw.setdefault("clock", vt.clock)
    fake = FakeSheets(**fake_kw)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        env = SheetsEnv(fake, vt, load_schema(), fake.create("KMC Aduan"), fake.create("KMC Aduan Kontak"))
        yield env
