"""Settings: the only place that reads the environment (DESIGN.md, "Environment")."""
from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"


class ConfigError(ValueError):
    """A missing or malformed setting; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} harus bilangan bulat, bukan {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} harus antara {low} dan {high}, bukan {raw!r}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, high: float = 24 * 365) -> float:
    """A positive, finite number of hours up to `high` (nan, inf and 1e20 are refused)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} harus berupa angka (jam), bukan {raw!r}") from None
    if not math.isfinite(value) or not 0 < value <= high:
        raise ConfigError(f"{name} harus angka lebih dari 0 dan paling besar {high:g}, bukan {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on", "ya"}:
        return True
    if raw in {"0", "false", "no", "off", "tidak"}:
        return False
    raise ConfigError(f"{name} harus true atau false, bukan {raw!r}")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    """An absolute http(s) URL without query or fragment (links in emails and replies)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment \
            or any(ch.isspace() for ch in raw):
        raise ConfigError(f"{name} harus alamat lengkap http:// atau https://, mis. "
                          f"https://aduan.ketapangkab.go.id, bukan {raw!r}")
    return raw.rstrip("/")


def _proxies(env: Mapping[str, str], *, in_cloud: bool) -> tuple[str, ...]:
    """KMC_TRUSTED_PROXIES: addresses/networks (or `*`) whose X-Forwarded-For is believed."""
    items = _list(env, "KMC_TRUSTED_PROXIES")
    if not items:
        return ("*",) if in_cloud else ()
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"KMC_TRUSTED_PROXIES berisi {item!r}, bukan alamat IP atau jaringan "
                              "(mis. 10.0.0.1, 10.0.0.0/8, atau *)") from None
    return items


@dataclass(frozen=True)
class Settings:
    backend: str = "local"
    data_dir: Path = Path("./data")
    spreadsheet_id: str = ""
    contacts_spreadsheet_id: str = ""
    timezone: str = "Asia/Jakarta"
    sla_hours: float = 48.0
    sla_working_hours: bool = False
    reminder_hours: float = 12.0
    ticket_prefix: str = "KMC"
    admin_token: str = ""
    public_url: str = "http://localhost:8080"
    whatsapp_verify_token: str = ""
    whatsapp_app_secret: str = ""
    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_template: str = "kmc_tanggapan"
    whatsapp_template_language: str = "id"
    meta_page_access_token: str = ""  # Messenger/Instagram Send API; empty = local outbox
    meta_graph_url: str = DEFAULT_GRAPH_URL
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "KMC Aduan <kmc@localhost>"
    digest_to: tuple[str, ...] = ()
    media_feeds: tuple[str, ...] = ()
    feeds_allow_private: bool = False  # KMC_FEEDS_ALLOW_PRIVATE: fetch feeds on private/loopback hosts (tests, intranet)
    open311_keys: tuple[str, ...] = ()
    form_secret: str = ""  # KMC_FORM_SECRET: signs web-form CSRF tokens (see channels/csrf.py)
    trusted_proxy_hops: int = 1  # KMC_TRUSTED_PROXY_HOPS: proxies appending to X-Forwarded-For
    trusted_proxies: tuple[str, ...] = ()  # KMC_TRUSTED_PROXIES: who may set X-Forwarded-For ('*' = any)
    sheets_emulator_host: str = ""
    conversation_window_minutes: int = 30
    in_cloud: bool = False
    private_functions_behind_iam: bool = True
    project_id: str = ""  # GOOGLE_CLOUD_PROJECT; set by deploy.sh, used for log trace ids
    queue: str = "local"  # KMC_QUEUE: the intake queue, local SQLite or Google Cloud Tasks
    tasks_queue: str = ""  # KMC_TASKS_QUEUE: projects/P/locations/L/queues/Q
    intake_worker_url: str = ""  # where Cloud Tasks delivers: KMC_INTAKE_URL or KMC_PUBLIC_URL/intake
    tasks_invoker: str = ""  # KMC_TASKS_INVOKER: the account in Cloud Tasks' OIDC token
    media_bucket: str = ""  # KMC_MEDIA_BUCKET: Cloud Storage bucket for attachments; empty = KMC_DATA_DIR/media
    media_fetch: bool = False  # KMC_MEDIA_FETCH: download attachments (default: in the cloud or with a Meta token)
    transcribe: bool = False  # KMC_TRANSCRIBE: voice notes through Speech-to-Text (id-ID)
    media_limits: Mapping[str, int] = field(default_factory=dict, compare=False)  # family -> bytes (KMC_MEDIA_MAX_*_MB)
    service_accounts: tuple[str, ...] = ()  # KMC_SERVICE_ACCOUNT: the runtime accounts (protected ranges' editors)
    sheets_index_max_age: float | None = None  # KMC_SHEETS_INDEX_MAX_AGE: seconds the ticket index is trusted
    archive_spreadsheets: Mapping[int, str] = field(default_factory=dict, compare=False)  # KMC_ARCHIVE_SPREADSHEET_<YEAR>
    data_dir_given: bool = False  # KMC_DATA_DIR was set (the demo then uses it instead of a temporary folder)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from `env` (default: os.environ); fails fast naming the variable."""
        env = os.environ if env is None else env
        backend = (env.get("KMC_BACKEND", "local").strip() or "local").lower()
        if backend not in {"local", "google"}:
            raise ConfigError(f"KMC_BACKEND harus 'local' atau 'google', bukan {backend!r}")
        if backend == "google":
            for name in ("KMC_SPREADSHEET_ID", "KMC_CONTACTS_SPREADSHEET_ID"):
                if not env.get(name, "").strip():
                    raise ConfigError(f"{name} wajib diisi bila KMC_BACKEND=google")
        timezone = env.get("KMC_TIMEZONE", "Asia/Jakarta").strip() or "Asia/Jakarta"
        try:
            ZoneInfo(timezone)
        except Exception:
            raise ConfigError(f"KMC_TIMEZONE bukan zona waktu yang dikenal: {timezone!r}") from None
        prefix = env.get("KMC_TICKET_PREFIX", "KMC").strip() or "KMC"
        if not prefix.isalnum() or not prefix.isascii():
            raise ConfigError(f"KMC_TICKET_PREFIX hanya boleh huruf/angka, bukan {prefix!r}")
        public_url = _url(env, "KMC_PUBLIC_URL", "http://localhost:8080")
        return cls(
            backend=backend,
            data_dir=Path(env.get("KMC_DATA_DIR", "./data").strip() or "./data"),
            data_dir_given=bool(env.get("KMC_DATA_DIR", "").strip()),
            spreadsheet_id=env.get("KMC_SPREADSHEET_ID", "").strip(),
            contacts_spreadsheet_id=env.get("KMC_CONTACTS_SPREADSHEET_ID", "").strip(),
            timezone=timezone,
            sla_hours=_float(env, "KMC_SLA_HOURS", 48.0),
            sla_working_hours=_bool(env, "KMC_SLA_WORKING_HOURS", False),
            reminder_hours=_float(env, "KMC_REMINDER_HOURS", 12.0),
            ticket_prefix=prefix.upper(),
            admin_token=env.get("KMC_ADMIN_TOKEN", ""),
            public_url=public_url,
            media_feeds=_list(env, "KMC_MEDIA_FEEDS"),
            feeds_allow_private=_bool(env, "KMC_FEEDS_ALLOW_PRIVATE", False),
            open311_keys=_list(env, "KMC_OPEN311_KEYS"),
            form_secret=env.get("KMC_FORM_SECRET", "").strip(),
            trusted_proxy_hops=_int(env, "KMC_TRUSTED_PROXY_HOPS", 1, 1, 10),
            trusted_proxies=_proxies(env, in_cloud=bool(env.get("K_SERVICE"))),
            sheets_emulator_host=env.get("SHEETS_EMULATOR_HOST", "").strip(),
            conversation_window_minutes=_int(env, "KMC_CONVERSATION_WINDOW_MINUTES", 30, 1, 24 * 60),
            in_cloud=bool(env.get("K_SERVICE")),
            private_functions_behind_iam=_bool(env, "KMC_PRIVATE_BEHIND_IAM", True),
            project_id=env.get("GOOGLE_CLOUD_PROJECT", "").strip(),
            **_meta_settings(env),
            **_mail_settings(env),
            **_queue_settings(env, public_url),
            **_media_settings(env),
            **_google_settings(env),
        )


def _meta_settings(env: Mapping[str, str]) -> dict:
    """WhatsApp Cloud API and the Messenger/Instagram Send API."""
    return {
        "whatsapp_verify_token": env.get("WHATSAPP_VERIFY_TOKEN", ""),
        "whatsapp_app_secret": env.get("WHATSAPP_APP_SECRET", ""),
        "whatsapp_access_token": env.get("WHATSAPP_ACCESS_TOKEN", ""),
        "whatsapp_phone_number_id": env.get("WHATSAPP_PHONE_NUMBER_ID", "").strip(),
        "whatsapp_template": env.get("WHATSAPP_TEMPLATE", "kmc_tanggapan").strip() or "kmc_tanggapan",
        "whatsapp_template_language": env.get("WHATSAPP_TEMPLATE_LANGUAGE", "id").strip() or "id",
        "meta_page_access_token": env.get("META_PAGE_ACCESS_TOKEN", "").strip(),
        "meta_graph_url": _url(env, "META_GRAPH_URL", DEFAULT_GRAPH_URL),
    }


def _mail_settings(env: Mapping[str, str]) -> dict:
    """SMTP for the digest and the OPD heads' mail; the local outbox when SMTP_HOST is empty."""
    smtp_port = _int(env, "SMTP_PORT", 587, 1, 65535)
    return {
        "smtp_host": env.get("SMTP_HOST", "").strip(),
        "smtp_port": smtp_port,
        "smtp_user": env.get("SMTP_USER", ""),
        "smtp_password": env.get("SMTP_PASSWORD", ""),
        "smtp_starttls": _bool(env, "SMTP_STARTTLS", smtp_port != 465),
        "mail_from": env.get("MAIL_FROM", "").strip() or "KMC Aduan <kmc@localhost>",
        "digest_to": _list(env, "DIGEST_TO"),
    }


_ARCHIVE_VAR = re.compile(r"^KMC_ARCHIVE_SPREADSHEET_(\d{4})$")


def _google_settings(env: Mapping[str, str]) -> dict:
    """The runtime service accounts, the ticket index's age and the yearly archives' spreadsheets."""
    raw_age = env.get("KMC_SHEETS_INDEX_MAX_AGE", "").strip()
    age = None
    if raw_age:
        try:
            age = max(0.0, float(raw_age))
        except ValueError:
            raise ConfigError(f"KMC_SHEETS_INDEX_MAX_AGE harus berupa detik, bukan {raw_age!r}") from None
        if not math.isfinite(age):
            raise ConfigError(f"KMC_SHEETS_INDEX_MAX_AGE harus berupa detik, bukan {raw_age!r}")
    archives = {int(m.group(1)): v.strip() for k, v in env.items()
                if (m := _ARCHIVE_VAR.match(k)) and v.strip()}
    return {
        "service_accounts": tuple(a.strip() for a in env.get("KMC_SERVICE_ACCOUNT", "").split(",") if a.strip()),
        "sheets_index_max_age": age,
        "archive_spreadsheets": archives,
    }


_TASKS_QUEUE = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z]+-[a-z]+[0-9]+/queues/[A-Za-z0-9-]{1,100}$")


def _queue_settings(env: Mapping[str, str], public_url: str) -> dict:
    """KMC_QUEUE and, for Cloud Tasks, the queue name, the worker URL and the OIDC identity."""
    queue = env.get("KMC_QUEUE", "").strip().lower() or "local"
    if queue not in {"local", "cloudtasks"}:
        raise ConfigError(f"KMC_QUEUE harus 'local' atau 'cloudtasks', bukan {queue!r}")
    tasks_queue = env.get("KMC_TASKS_QUEUE", "").strip()
    url = _url(env, "KMC_INTAKE_URL", f"{public_url}/intake")
    accounts = [a.strip() for a in env.get("KMC_SERVICE_ACCOUNT", "").split(",") if a.strip()]
    invoker = env.get("KMC_TASKS_INVOKER", "").strip() or (accounts[0] if accounts else "")
    if queue == "cloudtasks":
        if not _TASKS_QUEUE.match(tasks_queue):
            raise ConfigError("KMC_TASKS_QUEUE wajib diisi dengan format projects/PROYEK/locations/REGION/queues/NAMA "
                              f"bila KMC_QUEUE=cloudtasks (sekarang {tasks_queue!r})")
        if not url.startswith("https://") or "localhost" in url:
            raise ConfigError("Cloud Tasks mengirim ke alamat https publik: atur KMC_PUBLIC_URL (atau KMC_INTAKE_URL) "
                              f"ke alamat fungsi, bukan {url!r}")
        if "@" not in invoker:
            raise ConfigError("KMC_TASKS_INVOKER (atau KMC_SERVICE_ACCOUNT) wajib berisi email service account "
                              "yang dipakai Cloud Tasks untuk token OIDC")
    return {"queue": queue, "tasks_queue": tasks_queue, "intake_worker_url": url, "tasks_invoker": invoker}


MEDIA_LIMITS_MB = {"image": 5, "audio": 16, "video": 16, "document": 100}  # as Meta's WhatsApp limits


def _media_settings(env: Mapping[str, str]) -> dict:
    """Attachments (docs/media-attachments.md): where they are kept, whether they are fetched and
    transcribed, and the size limit of each kind (KMC_MEDIA_MAX_IMAGE_MB, ..._AUDIO_MB, ..._VIDEO_MB,
    ..._DOCUMENT_MB)."""
    bucket = env.get("KMC_MEDIA_BUCKET", "").strip()
    if bucket and not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]", bucket):
        raise ConfigError(f"KMC_MEDIA_BUCKET bukan nama bucket Cloud Storage yang sah: {bucket!r}")
    has_token = bool(env.get("WHATSAPP_ACCESS_TOKEN", "").strip() or env.get("META_PAGE_ACCESS_TOKEN", "").strip())
    limits = {family: _int(env, f"KMC_MEDIA_MAX_{family.upper()}_MB", mb, 1, 100) * 1024 * 1024
              for family, mb in MEDIA_LIMITS_MB.items()}
    return {"media_bucket": bucket,
            "media_fetch": _bool(env, "KMC_MEDIA_FETCH", bool(env.get("K_SERVICE")) or has_token),
            "transcribe": _bool(env, "KMC_TRANSCRIBE", False), "media_limits": limits}
