"""The Cloud Functions targets through functions-framework's own app factory."""
from __future__ import annotations

from pathlib import Path

import pytest
from functions_framework import create_app

from functions.bootstrap import services

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["meta_webhook", "web_form", "open311", "monitoring_intake", "sweep", "daily_digest", "media_monitor"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    for key in ("KMC_BACKEND", "SMTP_HOST", "WHATSAPP_ACCESS_TOKEN", "K_SERVICE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KMC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KMC_ADMIN_TOKEN", "rahasia-admin")
    services.cache_clear()
    yield tmp_path
    services.cache_clear()


def client(target):
    return create_app(target=target, source=str(ROOT / "main.py")).test_client()


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_answers_health(env, target):
    reply = client(target).get("/healthz")
    assert reply.status_code == 200 and reply.get_json() == {"ok": True, "function": target, "backend": "local"}


@pytest.mark.parametrize("target", ["sweep", "daily_digest"])
def test_jobs_refuse_requests_without_the_admin_token(env, target):
    c = client(target)
    assert c.post("/").status_code == 401
    assert c.post("/", headers={"Authorization": "Bearer salah"}).status_code == 401
    assert "token admin" in c.post("/").get_json()["error"]
    assert c.get("/", headers={"Authorization": "Bearer rahasia-admin"}).status_code == 405


def test_jobs_run_with_the_admin_token(env):
    services().workbook.bootstrap()
    reply = client("sweep").post("/", headers={"Authorization": "Bearer rahasia-admin"})
    assert reply.status_code == 200 and reply.get_json()["summary"].startswith("sweep:")
    reply = client("daily_digest").post("/?dry_run=1", headers={"Authorization": "Bearer rahasia-admin"})
    assert reply.status_code == 200 and reply.get_json()["dry_run"] is True


def test_jobs_are_locked_when_no_admin_token_is_configured(env, monkeypatch):
    monkeypatch.delenv("KMC_ADMIN_TOKEN")
    services.cache_clear()
    assert client("sweep").post("/", headers={"Authorization": "Bearer "}).status_code == 401


def test_store_outage_answers_503_so_the_scheduler_retries(env, tmp_path, monkeypatch):
    (tmp_path / "blocked").write_text("x")
    monkeypatch.setenv("KMC_DATA_DIR", str(tmp_path / "blocked" / "data"))
    services.cache_clear()
    reply = client("sweep").post("/", headers={"Authorization": "Bearer rahasia-admin"})
    assert reply.status_code == 503
