"""Media loses nothing: a fresh data dir works without `bootstrap`, and a feed's validators and
seen-links advance only when every item of that fetch was stored (issue 19)."""
from __future__ import annotations

import json

from functions.cli import main as cli
from functions.journal import FEED_STATE, PROBLEM
from functions.services.media import MAX_ITEM_ATTEMPTS, media_job
from tests.fakes.feed_server import Route
from tests.services.test_media import JALAN, LAMPU, cases, make_svc, rss, server  # noqa: F401 - fixture


def test_media_on_a_fresh_data_dir_stores_the_negative_items(tmp_path, server, cli_env):  # noqa: F811
    server.routes["/f"] = Route(rss(JALAN, LAMPU), etag='"1"')
    env = {**cli_env, "KMC_MEDIA_FEEDS": server.url("/f"), "KMC_FEEDS_ALLOW_PRIVATE": "true"}
    assert cli(["media", "--now", "2026-11-02T08:00"], env) == 0  # no `bootstrap` before
    from functions.bootstrap import build
    from functions.config import Settings

    svc = build(Settings.from_env(env))
    stored = {tab: [r["text"] for r in rows] for tab, rows in svc.workbook.read_all().items() if rows}
    assert set(stored) == {"PUTR", "DISHUB"}
    assert stored["PUTR"][0].startswith("[Kabar Ketapang] Jalan Rusak di Sandai")
    assert len(svc.workbook.log_entries(FEED_STATE)) == 1  # remembered only because both were stored


class RefusingTab:
    """A workbook whose appends to one tab fail as a missing tab does (`unknown tab ...`)."""

    def __init__(self, inner, tab: str, times: int):
        self.inner, self.tab, self.times = inner, tab, times

    def append(self, new_cases):
        if self.times and any(c.tab == self.tab for c in new_cases):
            self.times -= 1
            raise ValueError(f"unknown tab {self.tab!r}; run bootstrap")
        return self.inner.append(new_cases)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_an_item_that_fails_keeps_the_feeds_validators_and_lands_on_the_next_run(tmp_path, clock, server):  # noqa: F811
    server.routes["/f"] = Route(rss(JALAN, LAMPU), etag='"1"', last_modified="Mon, 02 Nov 2026 00:00:00 GMT")
    svc = make_svc(tmp_path, clock, server, ["/f"])
    real = svc.workbook
    svc.workbook = RefusingTab(real, "PUTR", times=1)
    first = media_job(svc)
    assert first.cases_created == 1 and [t for t, _ in cases(svc)] == ["DISHUB"]
    assert any("belum tersimpan" in p and "percobaan ke-1" in p for p in first.problems)
    assert real.log_entries(FEED_STATE) == []  # the validators did not advance

    clock.advance(hours=1)
    second = media_job(svc)
    assert "If-None-Match" not in server.requests_to("/f")[-1].headers  # read whole again
    assert second.cases_created == 1 and second.already_seen == 1  # the lost item lands, once
    assert sorted(t for t, _ in cases(svc)) == ["DISHUB", "PUTR"]
    (state,) = real.log_entries(FEED_STATE)
    assert json.loads(state.detail)[server.url("/f")]["etag"] == '"1"'

    clock.advance(hours=1)
    assert media_job(svc).unchanged == 1  # now the feed is settled: a conditional GET, 304
    assert server.requests_to("/f")[-1].headers["If-None-Match"] == '"1"'


def test_repeated_failures_reach_the_digest_and_the_item_is_given_up_after_the_limit(tmp_path, clock, server):  # noqa: F811
    server.routes["/f"] = Route(rss(JALAN), etag='"1"')
    svc = make_svc(tmp_path, clock, server, ["/f"])
    real = svc.workbook
    svc.workbook = RefusingTab(real, "PUTR", times=99)
    for run in range(1, MAX_ITEM_ATTEMPTS + 1):
        report = media_job(svc)
        clock.advance(hours=1)
        problems = [e.detail for e in real.log_entries(PROBLEM)]
        assert len(problems) == max(0, run - 1)  # from the second failure on, the digest hears of it
    assert "gagal disimpan 5 kali" in problems[-1] and "https://kabarketapang.example/jalan-rusak-sandai" in problems[-1]
    assert report.cases_created == 0 and len(real.log_entries(FEED_STATE)) == 1  # given up: the feed moves on
    assert media_job(svc).unchanged == 1
