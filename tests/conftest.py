"""Shared fixtures: the embedded store in a temp dir is the everyday fixture."""
from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from functions.bootstrap import build  # noqa: E402
from functions.config import Settings  # noqa: E402
from functions.model import Channel, Complaint, Contact  # noqa: E402
from functions.schema import load_schema  # noqa: E402
from tests.fakes.clock import FakeClock, WIB  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="long variants: many more fuzz examples, bigger load and chaos runs")


def pytest_configure(config):
    from hypothesis import HealthCheck, settings as hsettings

    common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    hsettings.register_profile("default", max_examples=25, **common)
    hsettings.register_profile("long", max_examples=500, **common)
    hsettings.load_profile("long" if config.getoption("--long") else "default")


@pytest.fixture
def long_run(request) -> bool:
    return request.config.getoption("--long")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 2, 8, 0, tzinfo=WIB))  # a Monday, 08:00 WIB


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env({
        "KMC_DATA_DIR": str(tmp_path / "data"),
        "KMC_ADMIN_TOKEN": "test-admin-token",
        "DIGEST_TO": "bupati@example.go.id,sekda@example.go.id",
    })


@pytest.fixture
def svc(settings, clock):
    services = build(settings, clock=clock)
    services.workbook.bootstrap()
    return services


@pytest.fixture
def schema():
    return load_schema()


def complaint(text: str, clock: FakeClock, *, channel=Channel.WHATSAPP, name="Budi Santoso",
              phone="081234567890", source_id: str = "", **kw) -> Complaint:
    return Complaint(text=text, channel=channel, received_at=clock(),
                     contact=Contact(name=name, phone=phone, channel_user_id=phone.lstrip("0")),
                     source_id=source_id, **kw)


@pytest.fixture
def cli_env(tmp_path):
    """Environment for running `python main.py` in a subprocess on a fresh data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMC_", "SMTP_", "WHATSAPP_", "DIGEST_"))}
    env.update({"KMC_DATA_DIR": str(tmp_path / "data"), "KMC_ADMIN_TOKEN": "test-admin-token",
                "PYTHONPATH": str(ROOT)})
    return env


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
