"""scripts/deploy.sh and scripts/scheduler.sh: what the regency IT person runs to go live.

The scripts are run for real as subprocesses. `--dry-run` output is parsed back into argv lists
and checked against the gcloud flag names from the gcloud reference documentation; real runs go
against a stateful fake `gcloud` (and `curl`) placed first on PATH, which records every call, so
idempotency (describe, then create or update) is observed rather than assumed.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from functions.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "scripts" / "deploy.sh"
SCHEDULER = ROOT / "scripts" / "scheduler.sh"
PROJECT = "kmc-aduan-uji"

# Flags per gcloud (GA) command, from the SYNOPSIS sections of the gcloud reference
# (cloud.google.com/sdk/gcloud/reference/...). Global flags are accepted everywhere.
GLOBAL_FLAGS = {
    "--access-token-file", "--account", "--billing-project", "--configuration", "--flags-file",
    "--flatten", "--format", "--help", "--impersonate-service-account", "--log-http",
    "--project", "--quiet", "--trace-token", "--user-output-enabled", "--verbosity",
}
GCLOUD_FLAGS: dict[tuple[str, ...], set[str]] = {
    ("services", "enable"): {"--async"},
    ("iam", "service-accounts", "create"): {"--description", "--display-name"},
    ("iam", "service-accounts", "describe"): set(),
    ("projects", "add-iam-policy-binding"): {"--member", "--role", "--condition", "--condition-from-file"},
    ("secrets", "describe"): {"--location"},
    ("secrets", "create"): {
        "--data-file", "--labels", "--location", "--regional-kms-key-name", "--set-annotations",
        "--tags", "--topics", "--version-destroy-ttl", "--expire-time", "--ttl",
        "--next-rotation-time", "--rotation-period", "--replication-policy-file", "--kms-key-name",
        "--locations", "--replication-policy",
    },
    ("secrets", "versions", "add"): {"--data-file", "--location"},
    ("secrets", "versions", "access"): {"--secret", "--location", "--out-file"},
    ("secrets", "add-iam-policy-binding"): {
        "--member", "--role", "--condition", "--condition-from-file", "--location"},
    ("functions", "deploy"): {
        "--region", "--allow-unauthenticated", "--no-allow-unauthenticated", "--concurrency", "--cpu",
        "--docker-registry", "--egress-settings", "--entry-point", "--gen2", "--ignore-file",
        "--ingress-settings", "--retry", "--run-service-account", "--runtime",
        "--runtime-update-policy", "--security-level", "--serve-all-traffic-latest-revision",
        "--service-account", "--source", "--stage-bucket", "--timeout", "--trigger-location",
        "--trigger-service-account", "--update-labels", "--binary-authorization",
        "--clear-binary-authorization", "--build-env-vars-file", "--clear-build-env-vars",
        "--set-build-env-vars", "--remove-build-env-vars", "--update-build-env-vars",
        "--build-service-account", "--clear-build-service-account", "--build-worker-pool",
        "--clear-build-worker-pool", "--clear-docker-repository", "--docker-repository",
        "--clear-env-vars", "--env-vars-file", "--set-env-vars", "--remove-env-vars",
        "--update-env-vars", "--clear-kms-key", "--kms-key", "--clear-labels", "--remove-labels",
        "--clear-max-instances", "--max-instances", "--clear-min-instances", "--min-instances",
        "--clear-secrets", "--set-secrets", "--remove-secrets", "--update-secrets",
        "--clear-vpc-connector", "--vpc-connector", "--cpu", "--memory", "--trigger-bucket",
        "--trigger-http", "--trigger-topic", "--trigger-event", "--trigger-resource",
        "--trigger-event-filters", "--trigger-event-filters-path-pattern",
    },
    ("functions", "describe"): {"--region", "--v2"},
    # gcloud tasks ... (GA reference: cloud.google.com/sdk/gcloud/reference/tasks/...)
    ("tasks", "locations", "list"): {"--filter", "--limit", "--page-size", "--sort-by", "--uri"},
    ("tasks", "queues", "describe"): {"--location"},
    ("tasks", "queues", "create"): {
        "--http-header-override", "--http-method-override", "--http-uri-override", "--location",
        "--log-sampling-ratio", "--max-attempts", "--max-backoff", "--max-concurrent-dispatches",
        "--max-dispatches-per-second", "--max-doublings", "--max-retry-duration", "--min-backoff",
        "--routing-override", "--http-oauth-service-account-email-override",
        "--http-oauth-token-scope-override", "--http-oidc-service-account-email-override",
        "--http-oidc-token-audience-override"},
    ("tasks", "queues", "update"): {
        "--location", "--log-sampling-ratio", "--max-attempts", "--max-backoff", "--max-concurrent-dispatches",
        "--max-dispatches-per-second", "--max-doublings", "--max-retry-duration", "--min-backoff",
        "--routing-override", "--clear-max-attempts", "--clear-max-backoff", "--clear-max-concurrent-dispatches",
        "--clear-max-dispatches-per-second", "--clear-max-doublings", "--clear-max-retry-duration",
        "--clear-min-backoff", "--clear-routing-override", "--clear-log-sampling-ratio"},
    ("tasks", "queues", "add-iam-policy-binding"): {"--member", "--role", "--location", "--condition",
                                                   "--condition-from-file"},
    ("iam", "service-accounts", "add-iam-policy-binding"): {"--member", "--role", "--condition",
                                                           "--condition-from-file"},
    ("auth", "print-identity-token"): {"--audiences", "--include-email", "--token-format",
                                       "--include-license"},
    ("run", "services", "add-iam-policy-binding"): {
        "--member", "--role", "--region", "--condition", "--condition-from-file"},
    # gcloud storage buckets ... (cloud.google.com/sdk/gcloud/reference/storage/buckets/create: SYNOPSIS
    # lists --lifecycle-file, --location, --[no-]public-access-prevention, --[no-]uniform-bucket-level-access)
    ("storage", "buckets", "describe"): {"--raw", "--additional-headers"},
    ("storage", "buckets", "create"): {
        "--additional-headers", "--default-encryption-key", "--default-storage-class",
        "--enable-hierarchical-namespace", "--enable-per-object-retention", "--ip-filter-file",
        "--lifecycle-file", "--location", "--public-access-prevention", "--no-public-access-prevention",
        "--pap", "--no-pap", "--placement", "--recovery-point-objective", "--rpo", "--retention-period",
        "--soft-delete-duration", "--uniform-bucket-level-access", "--no-uniform-bucket-level-access",
        "--autoclass-terminal-storage-class", "--enable-autoclass", "--no-enable-autoclass"},
    ("storage", "buckets", "update"): {
        "--additional-headers", "--lifecycle-file", "--clear-lifecycle", "--public-access-prevention",
        "--no-public-access-prevention", "--pap", "--no-pap", "--uniform-bucket-level-access",
        "--no-uniform-bucket-level-access", "--default-storage-class", "--clear-default-storage-class",
        "--soft-delete-duration", "--clear-soft-delete", "--retention-period", "--clear-retention-period"},
    ("storage", "buckets", "add-iam-policy-binding"): {"--member", "--role", "--condition",
                                                      "--condition-from-file"},
    ("scheduler", "jobs", "describe"): {"--location"},
    ("scheduler", "jobs", "create", "http"): {
        "--location", "--schedule", "--uri", "--attempt-deadline", "--description", "--headers",
        "--http-method", "--max-backoff", "--max-doublings", "--max-retry-attempts",
        "--max-retry-duration", "--min-backoff", "--time-zone", "--message-body",
        "--message-body-from-file", "--oauth-service-account-email", "--oauth-token-scope",
        "--oidc-service-account-email", "--oidc-token-audience",
    },
    ("scheduler", "jobs", "update", "http"): {
        "--location", "--attempt-deadline", "--description", "--http-method", "--schedule",
        "--uri", "--clear-auth-token", "--oauth-service-account-email", "--oauth-token-scope",
        "--oidc-service-account-email", "--oidc-token-audience", "--clear-headers",
        "--remove-headers", "--update-headers", "--clear-max-backoff", "--max-backoff",
        "--clear-max-doublings", "--max-doublings", "--clear-max-retry-attempts",
        "--max-retry-attempts", "--clear-max-retry-duration", "--max-retry-duration",
        "--clear-message-body", "--message-body", "--message-body-from-file",
        "--clear-min-backoff", "--min-backoff", "--clear-time-zone", "--time-zone",
    },
}
# Flags that take no value (everything else must be written --flag=value).
BOOLEAN_FLAGS = {
    "--quiet", "--async", "--gen2", "--trigger-http", "--allow-unauthenticated",
    "--no-allow-unauthenticated", "--retry", "--v2", "--clear-auth-token", "--help", "--log-http",
    "--uniform-bucket-level-access", "--public-access-prevention",
}
REQUIRED_FLAGS = {
    ("functions", "deploy"): {"--region"},
    ("functions", "describe"): {"--region"},
    ("projects", "add-iam-policy-binding"): {"--member", "--role"},
    ("secrets", "add-iam-policy-binding"): {"--member", "--role"},
    ("secrets", "versions", "add"): {"--data-file"},
    ("run", "services", "add-iam-policy-binding"): {"--member", "--role"},
    ("tasks", "queues", "create"): {"--location"},
    ("tasks", "queues", "update"): {"--location"},
    ("tasks", "queues", "add-iam-policy-binding"): {"--member", "--role", "--location"},
    ("iam", "service-accounts", "add-iam-policy-binding"): {"--member", "--role"},
    ("storage", "buckets", "create"): {"--location"},
    ("storage", "buckets", "add-iam-policy-binding"): {"--member", "--role"},
    ("scheduler", "jobs", "describe"): {"--location"},
    ("scheduler", "jobs", "create", "http"): {"--location", "--schedule", "--uri"},
    ("scheduler", "jobs", "update", "http"): {"--location"},
}

SECRET_NAMES = ["WHATSAPP_APP_SECRET", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_VERIFY_TOKEN",
                "SMTP_PASSWORD", "KMC_ADMIN_TOKEN"]
SECRET_VALUES = {name: f"s3cret-{name.lower()}-Zq81x" for name in SECRET_NAMES}
# Optional: stored and mounted only when exported or already in Secret Manager.
PAGE_TOKEN = "META_PAGE_ACCESS_TOKEN"
PAGE_TOKEN_VALUE = "EAAGpageTok3n-Vb81xQ"
PAGE_TOKEN_REF = f"{PAGE_TOKEN}={PAGE_TOKEN}:latest"
NO_PAGE_TOKEN_NOTE = (f"{PAGE_TOKEN} is not set and no such secret exists, so the functions get no "
                      "Page token: Messenger/Instagram answers go to the outbox")
PUBLIC = {"meta": "meta_webhook", "form": "web_form", "open311": "open311"}
PRIVATE = {"monitoring": "monitoring_intake", "sweep": "sweep", "daily": "daily_digest",
           "media": "media_monitor", "intake": "intake_worker"}
JOB_FUNCTIONS = {"kmc-sweep": ("sweep", "*/15 * * * *"), "kmc-daily": ("daily", "0 7 * * *"),
                 "kmc-media": ("media", "0 * * * *")}
SETTINGS = {
    "KMC_SPREADSHEET_ID": "1AbCdEfOpdWorkbook",
    "KMC_CONTACTS_SPREADSHEET_ID": "1ZyXwContactsBook",
    "WHATSAPP_PHONE_NUMBER_ID": "109876543210",
    "SMTP_HOST": "smtp.gmail.com",
    "SMTP_USER": "kmc@ketapangkab.go.id",
    "MAIL_FROM": "KMC Aduan <kmc@ketapangkab.go.id>",
    "DIGEST_TO": "bupati@ketapangkab.go.id,sekda@ketapangkab.go.id",
}


# --- running the scripts ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def toolbox(tmp_path_factory) -> Path:
    """A PATH with only the basic tools the scripts use: no gcloud, no curl."""
    box = tmp_path_factory.mktemp("toolbox")
    for tool in ("bash", "dirname", "od", "tr", "cat"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run the scripts"
        (box / tool).symlink_to(found)
    return box


FAKE_GCLOUD = r'''#!{python} -S
"""A stateful stand-in for gcloud: records calls, keeps created resources in a JSON file."""
import json, os, sys

args = sys.argv[1:]
state_file = os.environ["FAKE_GCLOUD_STATE"]
state = {"accounts": [], "secrets": {}, "functions": {}, "jobs": [], "bindings": [], "queues": {}}
if os.path.exists(state_file):
    with open(state_file) as f:
        state = json.load(f)
stdin = sys.stdin.read() if "--data-file=-" in args else None
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as f:
    f.write(json.dumps({"argv": args, "stdin": stdin}) + "\n")

words = [a for a in args if not a.startswith("-")]
flags = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "") for a in args if a.startswith("--"))
project = flags.get("project", "")

def save():
    with open(state_file, "w") as f:
        json.dump(state, f)

def missing(what):
    sys.stderr.write(f"ERROR: (gcloud) NOT_FOUND: {what}\n")
    sys.exit(1)

def conflict(what):
    sys.stderr.write(f"ERROR: (gcloud) ALREADY_EXISTS: {what}\n")
    sys.exit(1)

cmd = tuple(words[:4])
if words[:3] == ["iam", "service-accounts", "describe"]:
    words[3] in state["accounts"] or missing(words[3])
elif words[:3] == ["iam", "service-accounts", "create"]:
    email = f"{words[3]}@{project}.iam.gserviceaccount.com"
    email not in state["accounts"] or conflict(email)
    state["accounts"].append(email)
elif words[:2] == ["secrets", "describe"]:
    words[2] in state["secrets"] or missing(words[2])
elif words[:2] == ["secrets", "create"]:
    words[2] not in state["secrets"] or conflict(words[2])
    state["secrets"][words[2]] = [stdin] if stdin is not None else []
elif words[:3] == ["secrets", "versions", "add"]:
    words[3] in state["secrets"] or missing(words[3])
    state["secrets"][words[3]].append(stdin)
elif words[:3] == ["secrets", "versions", "access"]:
    versions = state["secrets"].get(flags.get("secret", ""))
    versions or missing(flags.get("secret"))
    sys.stdout.write(versions[-1])
elif words[:2] == ["functions", "deploy"]:
    state["functions"][words[2]] = flags
elif words[:2] == ["functions", "describe"]:
    words[2] in state["functions"] or missing(words[2])
    print(f"https://{words[2]}-x7k2qa-et.a.run.app")
elif words[:3] == ["scheduler", "jobs", "describe"]:
    words[3] in state["jobs"] or missing(words[3])
elif words[:4] == ["scheduler", "jobs", "create", "http"]:
    words[4] not in state["jobs"] or conflict(words[4])
    state["jobs"].append(words[4])
elif words[:4] == ["scheduler", "jobs", "update", "http"]:
    words[4] in state["jobs"] or missing(words[4])
elif words[:2] == ["auth", "print-identity-token"]:
    print("fake-identity-token")
elif words[:3] == ["tasks", "locations", "list"]:
    print("\n".join(os.environ.get("FAKE_TASKS_LOCATIONS", "asia-southeast2 asia-southeast1").split()))
elif words[:3] == ["tasks", "queues", "describe"]:
    f"{flags.get('location')}/{words[3]}" in state.setdefault("queues", {}) or missing(words[3])
elif words[:3] == ["tasks", "queues", "create"]:
    key = f"{flags.get('location')}/{words[3]}"
    key not in state.setdefault("queues", {}) or conflict(words[3])
    state["queues"][key] = flags
elif words[:3] == ["tasks", "queues", "update"]:
    key = f"{flags.get('location')}/{words[3]}"
    key in state.setdefault("queues", {}) or missing(words[3])
    state["queues"][key] = flags
elif words[:3] == ["storage", "buckets", "describe"]:
    words[3] in state.setdefault("buckets", {}) or missing(words[3])
elif words[:3] == ["storage", "buckets", "create"]:
    words[3] not in state.setdefault("buckets", {}) or conflict(words[3])
    with open(flags["lifecycle-file"]) as f:  # gcloud reads the file: it must exist and be JSON
        flags["lifecycle"] = json.load(f)
    state["buckets"][words[3]] = flags
elif words[:3] == ["storage", "buckets", "update"]:
    words[3] in state.setdefault("buckets", {}) or missing(words[3])
    with open(flags["lifecycle-file"]) as f:
        flags["lifecycle"] = json.load(f)
    state["buckets"][words[3]].update(flags)
elif words[:3] == ["storage", "buckets", "add-iam-policy-binding"]:
    words[3] in state.setdefault("buckets", {}) or missing(words[3])
    state["bindings"].append([words[3], flags.get("member"), flags.get("role")])
save()
'''

FAKE_CURL = r'''#!{python} -S
import json, os, sys
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as f:
    f.write(json.dumps({"curl": sys.argv[1:]}) + "\n")
sys.exit(int(os.environ.get("FAKE_CURL_EXIT", "0")))
'''


class FakeCloud:
    """A fake gcloud + curl on PATH, sharing one state file across script runs."""

    def __init__(self, root: Path, toolbox: Path):
        self.bin = root / "bin"
        self.bin.mkdir()
        self.state = root / "state.json"
        self.log = root / "calls.jsonl"
        for name, source in (("gcloud", FAKE_GCLOUD), ("curl", FAKE_CURL)):
            path = self.bin / name
            path.write_text(source.replace("{python}", sys.executable))
            path.chmod(path.stat().st_mode | stat.S_IEXEC)
        self.path = f"{self.bin}{os.pathsep}{toolbox}"

    def env(self) -> dict[str, str]:
        return {"FAKE_GCLOUD_STATE": str(self.state), "FAKE_GCLOUD_LOG": str(self.log)}

    def calls(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def gcloud_calls(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls() if "argv" in c]

    def reset_log(self) -> None:
        self.log.unlink(missing_ok=True)

    def resources(self) -> dict:
        return json.loads(self.state.read_text())


@pytest.fixture
def cloud(tmp_path, toolbox) -> FakeCloud:
    return FakeCloud(tmp_path, toolbox)


def run(script: Path, *args: str, path: Path | str, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    full_env = {"PATH": str(path), "HOME": "/nonexistent", "LC_ALL": "C"}
    full_env.update(env or {})
    return subprocess.run(
        [str(script), *args], cwd=ROOT, env=full_env, text=True, capture_output=True,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, timeout=120,
    )


def printed_commands(stdout: str, tool: str = "gcloud") -> list[list[str]]:
    """The `+ gcloud ...` lines of a run, split back into argv (without the tool name)."""
    prefix = f"+ {tool} "
    return [shlex.split(line)[2:] for line in stdout.splitlines() if line.startswith(prefix)]


def command_key(argv: list[str]) -> tuple[str, ...]:
    words = [a for a in argv if not a.startswith("-")]
    for size in (4, 3, 2):
        if tuple(words[:size]) in GCLOUD_FLAGS:
            return tuple(words[:size])
    raise AssertionError(f"gcloud command not in the reference table: {argv}")


def flags_of(argv: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for arg in argv:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            out[name] = value if eq else None
    return out


def env_vars(value: str) -> dict[str, str]:
    """Parse a --set-env-vars value, honouring gcloud's ^DELIM^ escaping."""
    delimiter = ","
    match = re.match(r"^\^(.+?)\^", value)
    if match:
        delimiter, value = match.group(1), value[match.end():]
    return dict(item.split("=", 1) for item in value.split(delimiter))


def deploy_dry_run(*extra: str, toolbox: Path, env: dict | None = None):
    result = run(DEPLOY, "--project", PROJECT, "--dry-run", *extra, path=toolbox,
                 env={**SETTINGS, **(env or {})})
    assert result.returncode == 0, result.stderr
    return result


def scheduler_dry_run(*extra: str, toolbox: Path):
    result = run(SCHEDULER, "--project", PROJECT, "--dry-run", *extra, path=toolbox)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def deploy_plan(toolbox) -> subprocess.CompletedProcess:
    """The default dry run of deploy.sh (settings from SETTINGS, secrets from the environment)."""
    return deploy_dry_run(toolbox=toolbox, env=SECRET_VALUES)


@pytest.fixture(scope="module")
def scheduler_plan(toolbox) -> subprocess.CompletedProcess:
    return scheduler_dry_run(toolbox=toolbox)


def deploys(commands: list[list[str]]) -> dict[str, dict[str, str | None]]:
    return {argv[2]: flags_of(argv) for argv in commands if argv[:2] == ["functions", "deploy"]}


# --- dry run: the complete, correct command sequence -------------------------------------------

@pytest.mark.parametrize("script", [DEPLOY, SCHEDULER], ids=["deploy", "scheduler"])
def test_dry_run_needs_no_gcloud_and_uses_only_real_gcloud_flags(script, toolbox):
    result = run(script, "--project", PROJECT, "--dry-run", path=toolbox, env=SETTINGS)
    assert result.returncode == 0, result.stderr
    commands = printed_commands(result.stdout)
    assert len(commands) >= 10
    for argv in commands:
        key = command_key(argv)
        flags = flags_of(argv)
        allowed = GCLOUD_FLAGS[key] | GLOBAL_FLAGS
        assert set(flags) <= allowed, f"{' '.join(key)}: unknown flags {set(flags) - allowed}"
        for name, value in flags.items():
            if name in BOOLEAN_FLAGS:
                assert value is None, f"{name} takes no value in {argv}"
            else:
                assert value, f"{name} needs a value in {argv}"
        assert REQUIRED_FLAGS.get(key, set()) <= set(flags), f"missing required flags in {argv}"
        named = argv[2] if key == ("projects", "add-iam-policy-binding") else flags.get("--project")
        assert named == PROJECT, f"every command names the project: {argv}"


def test_deploy_runs_the_stages_in_order(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    keys = [command_key(argv) for argv in commands]
    first = {k: keys.index(k) for k in reversed(keys)}
    last = {k: len(keys) - 1 - keys[::-1].index(k) for k in keys}
    assert keys[0] == ("services", "enable")
    assert last[("iam", "service-accounts", "create")] < first[("secrets", "create")]
    assert last[("secrets", "add-iam-policy-binding")] < first[("functions", "deploy")]


def test_deploy_enables_every_api_the_system_uses(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    enabled = {w for argv in commands if argv[:2] == ["services", "enable"] for w in argv[2:]
               if not w.startswith("-")}
    for api in ("cloudfunctions", "run", "cloudbuild", "artifactregistry", "secretmanager",
                "sheets", "cloudscheduler", "logging", "iam", "cloudtasks"):
        assert f"{api}.googleapis.com" in enabled


def test_deploy_deploys_each_entry_point_as_a_gen2_http_function(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    assert set(functions) == set(PUBLIC) | set(PRIVATE)
    for name, flags in functions.items():
        assert flags["--entry-point"] == {**PUBLIC, **PRIVATE}[name]
        assert "--gen2" in flags and "--trigger-http" in flags
        assert flags["--runtime"] == "python311"
        assert flags["--source"] == "."
        assert flags["--region"] == "asia-southeast2"
        assert flags["--service-account"] == f"kmc-runtime@{PROJECT}.iam.gserviceaccount.com"
        for setting in ("--memory", "--timeout", "--max-instances", "--concurrency", "--cpu"):
            assert flags[setting], f"{name} sets {setting}"
        if int(flags["--concurrency"]) > 1:  # Cloud Run serves concurrent requests only with >= 1 vCPU
            assert float(flags["--cpu"]) >= 1, name
        assert int(flags["--timeout"].rstrip("s")) <= 540


def test_the_entry_points_exist_in_main_py(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    main_py = (ROOT / "main.py").read_text()
    for flags in functions.values():
        assert re.search(rf"^def {flags['--entry-point']}\(request\)", main_py, re.M)


def test_citizen_facing_functions_are_public_and_the_rest_private(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    for name in PUBLIC:
        assert "--allow-unauthenticated" in functions[name]
        assert "--no-allow-unauthenticated" not in functions[name]
    for name in PRIVATE:
        assert "--no-allow-unauthenticated" in functions[name]
        assert "--allow-unauthenticated" not in functions[name]


def test_memory_fits_each_job(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    assert {functions[n]["--memory"] for n in ("meta", "form", "open311")} == {"256Mi"}
    assert functions["daily"]["--memory"] == "512Mi"  # pandas + matplotlib for the digest
    # Scheduled jobs never run twice at once: a retry queues behind the running one.
    assert {functions[n]["--max-instances"] for n in ("sweep", "daily", "media")} == {"1"}


def test_functions_get_all_secrets_from_secret_manager_and_production_settings(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    for name, flags in functions.items():
        mounted = dict(item.split("=", 1) for item in flags["--set-secrets"].split(","))
        assert mounted == {s: f"{s}:latest" for s in SECRET_NAMES}
        env = env_vars(flags["--set-env-vars"])
        assert env["KMC_BACKEND"] == "google"
        assert env["KMC_SPREADSHEET_ID"] == SETTINGS["KMC_SPREADSHEET_ID"]
        assert env["KMC_CONTACTS_SPREADSHEET_ID"] == SETTINGS["KMC_CONTACTS_SPREADSHEET_ID"]
        assert env["DIGEST_TO"] == SETTINGS["DIGEST_TO"]  # commas survive via ^|^ escaping
        assert env["MAIL_FROM"] == SETTINGS["MAIL_FROM"]
        assert env["GOOGLE_CLOUD_PROJECT"] == PROJECT
        assert env["KMC_PUBLIC_URL"] == f"https://asia-southeast2-{PROJECT}.cloudfunctions.net"
        assert not set(env) & set(SECRET_NAMES), "secrets never travel as plain env vars"


def test_deployed_environment_is_accepted_by_settings(deploy_plan):
    """What the functions will see at start: plain env vars + mounted secrets."""
    functions = deploys(printed_commands(deploy_plan.stdout))
    env = {**env_vars(functions["meta"]["--set-env-vars"]), **SECRET_VALUES, "K_SERVICE": "meta"}
    settings = Settings.from_env(env)
    assert settings.backend == "google"
    assert settings.spreadsheet_id == SETTINGS["KMC_SPREADSHEET_ID"]
    assert settings.digest_to == ("bupati@ketapangkab.go.id", "sekda@ketapangkab.go.id")
    assert settings.timezone == "Asia/Jakarta" and settings.in_cloud


def test_every_kmc_setting_passes_through_but_not_local_ones(toolbox):
    result = deploy_dry_run(toolbox=toolbox, env={
        "KMC_FEEDS_ALLOW_PRIVATE": "false", "KMC_TICKET_PREFIX": "KTP", "KMC_BACKEND": "local",
        "KMC_DATA_DIR": "/home/budi/kmc-data", "SHEETS_EMULATOR_HOST": "127.0.0.1:9999",
        "KMC_ADMIN_TOKEN": SECRET_VALUES["KMC_ADMIN_TOKEN"]})
    env = env_vars(deploys(printed_commands(result.stdout))["daily"]["--set-env-vars"])
    assert env["KMC_FEEDS_ALLOW_PRIVATE"] == "false" and env["KMC_TICKET_PREFIX"] == "KTP"
    assert env["KMC_BACKEND"] == "google" and env["KMC_DATA_DIR"] == "/tmp/kmc"
    assert "SHEETS_EMULATOR_HOST" not in env and "KMC_ADMIN_TOKEN" not in env


def test_env_without_commas_uses_plain_syntax(toolbox):
    result = deploy_dry_run(toolbox=toolbox, env={"DIGEST_TO": "bupati@ketapangkab.go.id"})
    value = deploys(printed_commands(result.stdout))["meta"]["--set-env-vars"]
    assert not value.startswith("^")
    assert env_vars(value)["DIGEST_TO"] == "bupati@ketapangkab.go.id"


def test_least_privilege_runtime_account(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    runtime = f"serviceAccount:kmc-runtime@{PROJECT}.iam.gserviceaccount.com"
    project_roles = {(flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
                     if a[:2] == ["projects", "add-iam-policy-binding"]}
    assert {role for member, role in project_roles if member == runtime} == {"roles/logging.logWriter"}
    assert not {role for _, role in project_roles} & {"roles/editor", "roles/owner"}
    secret_grants = {(a[2], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
                     if a[:2] == ["secrets", "add-iam-policy-binding"]}
    assert secret_grants == {(s, runtime, "roles/secretmanager.secretAccessor") for s in SECRET_NAMES}


# --- the intake queue (Cloud Tasks) --------------------------------------------------------------

TASKS_SA = f"kmc-tasks@{PROJECT}.iam.gserviceaccount.com"
QUEUE_NAME = f"projects/{PROJECT}/locations/asia-southeast2/queues/kmc-intake"


def test_the_intake_queue_is_created_in_the_functions_region_paced_under_the_sheets_quota(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    (create,) = [a for a in commands if a[:3] == ["tasks", "queues", "create"]]
    flags = flags_of(create)
    assert create[3] == "kmc-intake" and flags["--location"] == "asia-southeast2"
    # at most one task a second, 10 at once: the writer coalesces them into <= 60 writes a minute
    assert float(flags["--max-dispatches-per-second"]) <= 1 and int(flags["--max-concurrent-dispatches"]) <= 10
    assert 0 < int(flags["--max-attempts"]) <= 100  # bounded
    assert flags["--min-backoff"] == "10s" and flags["--max-backoff"] == "600s"
    keys = [command_key(a) for a in commands]
    assert keys.index(("tasks", "queues", "create")) < keys.index(("functions", "deploy"))  # queue first


def test_the_functions_are_told_where_the_queue_is_and_settings_accept_it(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    for name, flags in functions.items():
        env = env_vars(flags["--set-env-vars"])
        assert env["KMC_QUEUE"] == "cloudtasks" and env["KMC_TASKS_QUEUE"] == QUEUE_NAME
        assert env["KMC_TASKS_INVOKER"] == TASKS_SA
        assert env["KMC_INTAKE_URL"] == f"https://asia-southeast2-{PROJECT}.cloudfunctions.net/intake"
    settings = Settings.from_env({**env_vars(functions["meta"]["--set-env-vars"]), **SECRET_VALUES,
                                  "K_SERVICE": "meta"})
    assert settings.queue == "cloudtasks" and settings.tasks_queue == QUEUE_NAME
    assert settings.intake_worker_url.endswith("/intake") and settings.tasks_invoker == TASKS_SA


def test_the_door_account_may_only_enqueue_and_only_cloud_tasks_may_call_the_worker(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    runtime = f"serviceAccount:kmc-runtime@{PROJECT}.iam.gserviceaccount.com"
    queue_grants = {(a[3], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
                    if a[:3] == ["tasks", "queues", "add-iam-policy-binding"]}
    assert queue_grants == {("kmc-intake", runtime, "roles/cloudtasks.enqueuer")}
    # putting kmc-tasks' OIDC identity in a task needs actAs on that one account, nothing wider
    sa_grants = {(a[3], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
                 if a[:3] == ["iam", "service-accounts", "add-iam-policy-binding"]}
    assert sa_grants == {(TASKS_SA, runtime, "roles/iam.serviceAccountUser")}
    invokers = {(a[3], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
                if a[:3] == ["run", "services", "add-iam-policy-binding"]}
    assert invokers == {("intake", f"serviceAccount:{TASKS_SA}", "roles/run.invoker")}
    assert "--no-allow-unauthenticated" in deploys(commands)["intake"]
    project_roles = {flags_of(a)["--role"] for a in commands if a[:2] == ["projects", "add-iam-policy-binding"]
                     and flags_of(a)["--member"] == f"serviceAccount:{TASKS_SA}"}
    assert project_roles == set()


def test_the_intake_worker_takes_the_queue_s_concurrency_in_one_instance(deploy_plan):
    intake = deploys(printed_commands(deploy_plan.stdout))["intake"]
    assert intake["--max-instances"] == "1" and int(intake["--concurrency"]) >= 10 and float(intake["--cpu"]) >= 1


def test_without_cloud_tasks_in_the_region_the_queue_goes_to_the_nearest_that_has_it(cloud):
    result = deploy_for_real(cloud, env={**SECRET_VALUES, "FAKE_TASKS_LOCATIONS": "asia-southeast1 us-central1"})
    assert result.returncode == 0, result.stderr
    assert "the intake queue goes to asia-southeast1" in result.stderr
    assert list(cloud.resources()["queues"]) == ["asia-southeast1/kmc-intake"]
    env = env_vars(cloud.resources()["functions"]["meta"]["set-env-vars"])
    assert env["KMC_TASKS_QUEUE"] == f"projects/{PROJECT}/locations/asia-southeast1/queues/kmc-intake"


def test_dry_run_never_shows_a_secret_value(deploy_plan):
    result = deploy_plan
    for value in SECRET_VALUES.values():
        assert value not in result.stdout and value not in result.stderr
    assert "<value of WHATSAPP_APP_SECRET, not shown>" in result.stdout
    for argv in printed_commands(result.stdout):
        if argv[:2] == ["secrets", "create"]:
            flags = flags_of(argv)
            assert flags["--data-file"] == "-"  # the value goes through stdin
            # replicated only in the functions' region (Jakarta): the data stays in Indonesia
            assert (flags["--replication-policy"], flags["--locations"]) == ("user-managed", "asia-southeast2")


def mounted_secrets(set_secrets: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in set_secrets.split(","))


def test_dry_run_with_a_page_token_creates_and_mounts_it_without_showing_it(toolbox):
    result = deploy_dry_run(toolbox=toolbox, env={**SECRET_VALUES, PAGE_TOKEN: PAGE_TOKEN_VALUE})
    assert PAGE_TOKEN_VALUE not in result.stdout + result.stderr
    assert f"<value of {PAGE_TOKEN}, not shown>" in result.stdout
    assert NO_PAGE_TOKEN_NOTE not in result.stderr
    commands = printed_commands(result.stdout)
    created = [flags_of(a) for a in commands if a[:3] == ["secrets", "create", PAGE_TOKEN]]
    assert len(created) == 1 and created[0]["--data-file"] == "-"
    assert (created[0]["--replication-policy"], created[0]["--locations"]) == ("user-managed", "asia-southeast2")
    runtime = f"serviceAccount:kmc-runtime@{PROJECT}.iam.gserviceaccount.com"
    grants = {(a[2], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
              if a[:2] == ["secrets", "add-iam-policy-binding"]}
    assert grants == {(s, runtime, "roles/secretmanager.secretAccessor") for s in [*SECRET_NAMES, PAGE_TOKEN]}
    functions = deploys(commands)
    assert set(functions) == set(PUBLIC) | set(PRIVATE)
    for name, flags in functions.items():
        assert mounted_secrets(flags["--set-secrets"]) == {
            s: f"{s}:latest" for s in [*SECRET_NAMES, PAGE_TOKEN]}, name
        assert PAGE_TOKEN not in env_vars(flags["--set-env-vars"]), "never a plain env var"


def test_dry_run_without_a_page_token_does_not_mount_it_and_says_so(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    assert not [a for a in commands if a[:2] == ["secrets", "create"] and a[2] == PAGE_TOKEN]
    for flags in deploys(commands).values():
        assert PAGE_TOKEN not in mounted_secrets(flags["--set-secrets"])
    assert deploy_plan.stderr.count(NO_PAGE_TOKEN_NOTE) == 1
    assert "dry run: a META_PAGE_ACCESS_TOKEN secret already in the project would be kept" in deploy_plan.stderr


def test_deploy_prints_what_to_paste_into_meta_and_the_form_link(deploy_plan):
    out = deploy_plan.stdout
    base = f"https://asia-southeast2-{PROJECT}.cloudfunctions.net"
    assert f"Callback URL:  {base}/meta" in out
    assert f"{base}/form" in out
    assert "gcloud secrets versions access latest --secret=WHATSAPP_VERIFY_TOKEN" in out
    assert f"kmc-runtime@{PROJECT}.iam.gserviceaccount.com" in out


def test_region_option_reaches_every_regional_command(toolbox):
    for script in (DEPLOY, SCHEDULER):
        result = run(script, "--project", PROJECT, "--region", "asia-southeast1", "--dry-run",
                     path=toolbox, env=SETTINGS)
        assert result.returncode == 0, result.stderr
        for argv in printed_commands(result.stdout):
            flags = flags_of(argv)
            for name in ("--region", "--location", "--locations"):
                if name in flags:
                    assert flags[name] == "asia-southeast1", argv


def test_only_limits_the_functions_deployed(toolbox):
    result = deploy_dry_run("--only", "meta,form", toolbox=toolbox)
    assert set(deploys(printed_commands(result.stdout))) == {"meta", "form"}
    bad = run(DEPLOY, "--project", PROJECT, "--dry-run", "--only", "webhook", path=toolbox, env=SETTINGS)
    assert bad.returncode != 0 and "unknown function 'webhook'" in bad.stderr


def test_monitoring_invoker_grants_only_the_monitoring_function(toolbox):
    result = deploy_dry_run("--monitoring-invoker", "user:admin@ketapangkab.go.id", toolbox=toolbox)
    grants = [a for a in printed_commands(result.stdout) if a[:3] == ["run", "services", "add-iam-policy-binding"]]
    assert [(a[3], flags_of(a)["--member"], flags_of(a)["--role"]) for a in grants] == [
        ("monitoring", "user:admin@ketapangkab.go.id", "roles/run.invoker"),
        ("intake", f"serviceAccount:kmc-tasks@{PROJECT}.iam.gserviceaccount.com", "roles/run.invoker")]


def test_config_file_supplies_settings(toolbox, tmp_path):
    config = tmp_path / "kmc.env"
    config.write_text("KMC_SPREADSHEET_ID=1FromFile\nKMC_CONTACTS_SPREADSHEET_ID=2FromFile\nKMC_SLA_HOURS=24\n"
                      'MAIL_FROM="KMC Aduan <kmc@ketapangkab.go.id>"\n')
    result = run(DEPLOY, "--project", PROJECT, "--dry-run", "--config", str(config), path=toolbox)
    assert result.returncode == 0, result.stderr
    env = env_vars(deploys(printed_commands(result.stdout))["sweep"]["--set-env-vars"])
    assert (env["KMC_SPREADSHEET_ID"], env["KMC_SLA_HOURS"]) == ("1FromFile", "24")
    assert env["MAIL_FROM"] == "KMC Aduan <kmc@ketapangkab.go.id>"


def test_scheduler_dry_run_creates_three_jakarta_jobs_with_oidc(scheduler_plan):
    commands = printed_commands(scheduler_plan.stdout)
    scheduler_sa = f"kmc-scheduler@{PROJECT}.iam.gserviceaccount.com"
    jobs = {a[4]: flags_of(a) for a in commands if a[:4] == ["scheduler", "jobs", "create", "http"]}
    assert set(jobs) == set(JOB_FUNCTIONS)
    for job, (function, schedule) in JOB_FUNCTIONS.items():
        flags = jobs[job]
        assert flags["--schedule"] == schedule
        assert flags["--time-zone"] == "Asia/Jakarta"
        assert flags["--http-method"] == "POST"
        assert flags["--oidc-service-account-email"] == scheduler_sa
        assert flags["--oidc-token-audience"] == flags["--uri"]
        assert function in flags["--uri"]
        for retry in ("--max-retry-attempts", "--min-backoff", "--max-backoff", "--max-doublings",
                      "--max-retry-duration", "--attempt-deadline"):
            assert flags[retry], f"{job} sets {retry}"


def test_scheduler_may_invoke_the_jobs_and_nothing_else(scheduler_plan):
    commands = printed_commands(scheduler_plan.stdout)
    grants = {(a[3], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
              if a[:3] == ["run", "services", "add-iam-policy-binding"]}
    member = f"serviceAccount:kmc-scheduler@{PROJECT}.iam.gserviceaccount.com"
    assert grants == {(f, member, "roles/run.invoker") for f, _ in JOB_FUNCTIONS.values()}
    assert not [a for a in commands if a[:2] == ["projects", "add-iam-policy-binding"]]


def test_scheduler_targets_functions_that_deploy_creates_private(deploy_plan, scheduler_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    commands = printed_commands(scheduler_plan.stdout)
    for argv in commands:
        if argv[:4] == ["scheduler", "jobs", "create", "http"]:
            function, _ = JOB_FUNCTIONS[argv[4]]
            deployed = functions[function]
            assert "--no-allow-unauthenticated" in deployed
            # Scheduler gives up on an attempt no earlier than the function itself would.
            deadline = int(flags_of(argv)["--attempt-deadline"].rstrip("s"))
            assert deadline >= int(deployed["--timeout"].rstrip("s"))


# --- command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("script", [DEPLOY, SCHEDULER], ids=["deploy", "scheduler"])
def test_help_explains_the_options(script, toolbox):
    result = run(script, "--help", path=toolbox)
    assert result.returncode == 0
    for option in ("--project", "--region", "--dry-run", "asia-southeast2"):
        assert option in result.stdout


@pytest.mark.parametrize("script", [DEPLOY, SCHEDULER], ids=["deploy", "scheduler"])
@pytest.mark.parametrize("args,message", [
    ((), "--project is required"),
    (("--project", "Bad_Project"), "not a valid project id"),
    (("--project", PROJECT, "--frobnicate"), "unknown argument: --frobnicate"),
])
def test_bad_arguments_fail_with_a_reason(script, args, message, toolbox):
    result = run(script, *args, "--dry-run", path=toolbox, env=SETTINGS)
    assert result.returncode != 0
    assert message in result.stderr


def test_real_run_without_gcloud_says_how_to_get_it(toolbox):
    result = run(DEPLOY, "--project", PROJECT, path=toolbox, env=SETTINGS)
    assert result.returncode != 0 and "gcloud not found" in result.stderr


def test_real_run_requires_the_spreadsheet_ids(cloud):
    env = {k: v for k, v in SETTINGS.items() if k != "KMC_CONTACTS_SPREADSHEET_ID"}
    result = run(DEPLOY, "--project", PROJECT, path=cloud.path, env={**cloud.env(), **env, **SECRET_VALUES})
    assert result.returncode != 0
    assert "KMC_CONTACTS_SPREADSHEET_ID is required" in result.stderr
    assert cloud.gcloud_calls() == []  # fails before touching the project


# --- real runs against a fake gcloud: idempotency ----------------------------------------------

def deploy_for_real(cloud: FakeCloud, env: dict | None = None, stdin: str | None = None):
    return run(DEPLOY, "--project", PROJECT, path=cloud.path,
               env={**cloud.env(), **SETTINGS, **(env or {})}, stdin=stdin)


def verbs(calls: list[list[str]]) -> list[tuple[str, ...]]:
    return [command_key(argv) for argv in calls]


@pytest.fixture(scope="module")
def first_deploy(tmp_path_factory, toolbox) -> tuple[subprocess.CompletedProcess, list[dict], str]:
    """One real first deploy into an empty fake project: (result, calls, state)."""
    fresh = FakeCloud(tmp_path_factory.mktemp("first"), toolbox)
    result = deploy_for_real(fresh, env=SECRET_VALUES)
    return result, fresh.calls(), fresh.state.read_text()


@pytest.fixture
def deployed(cloud, first_deploy) -> FakeCloud:
    """A fake project as the first deploy left it."""
    cloud.state.write_text(first_deploy[2])
    return cloud


def test_first_deploy_creates_everything_with_secrets_on_stdin(first_deploy):
    result, calls, state = first_deploy
    assert result.returncode == 0, result.stderr
    state = json.loads(state)
    assert sorted(state["accounts"]) == [f"kmc-build@{PROJECT}.iam.gserviceaccount.com",
                                         f"kmc-runtime@{PROJECT}.iam.gserviceaccount.com",
                                         f"kmc-tasks@{PROJECT}.iam.gserviceaccount.com"]
    assert list(state["queues"]) == ["asia-southeast2/kmc-intake"]
    assert state["secrets"] == {name: [value] for name, value in SECRET_VALUES.items()}
    assert set(state["functions"]) == set(PUBLIC) | set(PRIVATE)
    for call in calls:
        for value in SECRET_VALUES.values():
            assert value not in json.dumps(call.get("argv", call.get("curl"))), "secret on a command line"
    for value in SECRET_VALUES.values():
        assert value not in result.stdout and value not in result.stderr


def test_second_deploy_creates_nothing_and_keeps_unchanged_secrets(deployed):
    result = deploy_for_real(deployed, env=SECRET_VALUES)
    assert result.returncode == 0, result.stderr
    done = verbs(deployed.gcloud_calls())
    assert ("iam", "service-accounts", "create") not in done
    assert ("secrets", "create") not in done
    assert ("secrets", "versions", "add") not in done
    assert ("tasks", "queues", "create") not in done and ("tasks", "queues", "update") in done
    assert done.count(("functions", "deploy")) == 8  # deploy itself creates or updates
    assert all(len(v) == 1 for v in deployed.resources()["secrets"].values())


def test_a_changed_secret_becomes_a_new_version_and_unset_ones_are_kept(deployed):
    result = deploy_for_real(deployed, env={"WHATSAPP_ACCESS_TOKEN": "rotated-token-Pq7"})
    assert result.returncode == 0, result.stderr
    secrets = deployed.resources()["secrets"]
    assert secrets["WHATSAPP_ACCESS_TOKEN"] == [SECRET_VALUES["WHATSAPP_ACCESS_TOKEN"], "rotated-token-Pq7"]
    assert secrets["SMTP_PASSWORD"] == [SECRET_VALUES["SMTP_PASSWORD"]]
    assert "rotated-token-Pq7" not in result.stdout + result.stderr


def test_missing_secrets_are_generated_or_prompted_never_echoed(cloud):
    given = {k: v for k, v in SECRET_VALUES.items() if k not in ("WHATSAPP_VERIFY_TOKEN", "KMC_ADMIN_TOKEN")}
    result = run(DEPLOY, "--project", PROJECT, "--only", "meta", "--skip-checks", path=cloud.path,
                 env={**cloud.env(), **SETTINGS, **given})
    assert result.returncode == 0, result.stderr
    secrets = cloud.resources()["secrets"]
    for generated in ("WHATSAPP_VERIFY_TOKEN", "KMC_ADMIN_TOKEN"):
        (value,) = secrets[generated]
        assert re.fullmatch(r"[0-9a-f]{48}", value)
        assert value not in result.stdout + result.stderr
    assert secrets["KMC_ADMIN_TOKEN"] != secrets["WHATSAPP_VERIFY_TOKEN"]


def test_a_missing_secret_is_asked_for_with_hidden_input(cloud):
    import pty

    given = {k: v for k, v in SECRET_VALUES.items() if k != "SMTP_PASSWORD"}
    controller, terminal = pty.openpty()
    env = {"PATH": cloud.path, "HOME": "/nonexistent", "LC_ALL": "C", **cloud.env(), **SETTINGS, **given}
    proc = subprocess.Popen([str(DEPLOY), "--project", PROJECT, "--only", "meta", "--skip-checks"],
                            cwd=ROOT, env=env, stdin=terminal, stdout=subprocess.PIPE,
                            stderr=terminal, text=True)
    os.close(terminal)
    seen = b""
    while b"Value for SMTP_PASSWORD" not in seen:
        chunk = os.read(controller, 1024)
        assert chunk, "deploy.sh never asked for SMTP_PASSWORD"
        seen += chunk
    os.write(controller, b"typed-app-password-77\n")
    stdout, _ = proc.communicate(timeout=120)
    try:
        while chunk := os.read(controller, 1024):
            seen += chunk
    except OSError:  # the terminal closes when deploy.sh exits
        pass
    os.close(controller)
    assert proc.returncode == 0
    assert cloud.resources()["secrets"]["SMTP_PASSWORD"] == ["typed-app-password-77"]
    assert b"typed-app-password-77" not in seen  # not echoed on the terminal
    assert "typed-app-password-77" not in stdout


def test_a_secret_nobody_can_type_stops_the_deploy(cloud):
    given = {k: v for k, v in SECRET_VALUES.items() if k != "SMTP_PASSWORD"}
    result = deploy_for_real(cloud, env=given)
    assert result.returncode != 0
    assert "SMTP_PASSWORD is not set" in result.stderr
    assert not any(argv[:2] == ["functions", "deploy"] for argv in cloud.gcloud_calls())


@pytest.fixture(scope="module")
def first_deploy_with_page_token(tmp_path_factory, toolbox) -> tuple[subprocess.CompletedProcess, list[dict], str]:
    """A first deploy with META_PAGE_ACCESS_TOKEN exported: (result, calls, state)."""
    fresh = FakeCloud(tmp_path_factory.mktemp("first-page"), toolbox)
    result = deploy_for_real(fresh, env={**SECRET_VALUES, PAGE_TOKEN: PAGE_TOKEN_VALUE})
    return result, fresh.calls(), fresh.state.read_text()


def test_an_exported_page_token_is_stored_via_stdin_and_mounted_everywhere(first_deploy_with_page_token):
    result, calls, state = first_deploy_with_page_token
    assert result.returncode == 0, result.stderr
    state = json.loads(state)
    assert state["secrets"] == {**{n: [v] for n, v in SECRET_VALUES.items()}, PAGE_TOKEN: [PAGE_TOKEN_VALUE]}
    (create,) = [c for c in calls if c.get("argv", [])[:3] == ["secrets", "create", PAGE_TOKEN]]
    assert "--data-file=-" in create["argv"] and create["stdin"] == PAGE_TOKEN_VALUE
    for call in calls:
        assert PAGE_TOKEN_VALUE not in json.dumps(call.get("argv", call.get("curl"))), "token on a command line"
    assert PAGE_TOKEN_VALUE not in result.stdout + result.stderr
    assert NO_PAGE_TOKEN_NOTE not in result.stderr
    runtime = f"serviceAccount:kmc-runtime@{PROJECT}.iam.gserviceaccount.com"
    assert any(c["argv"][:3] == ["secrets", "add-iam-policy-binding", PAGE_TOKEN]
               and flags_of(c["argv"])["--member"] == runtime
               and flags_of(c["argv"])["--role"] == "roles/secretmanager.secretAccessor"
               for c in calls if "argv" in c)
    assert set(state["functions"]) == set(PUBLIC) | set(PRIVATE)
    for name, flags in state["functions"].items():
        mounted = mounted_secrets(flags["set-secrets"])
        assert mounted[PAGE_TOKEN] == f"{PAGE_TOKEN}:latest", name
        assert PAGE_TOKEN_REF in flags["set-secrets"].split(",")
        assert PAGE_TOKEN not in env_vars(flags["set-env-vars"]), "never a plain env var"
    # What the functions then see: the Page token reaches the settings, so Messenger is sent.
    env = {**env_vars(state["functions"]["meta"]["set-env-vars"]), **SECRET_VALUES,
           PAGE_TOKEN: PAGE_TOKEN_VALUE, "K_SERVICE": "meta"}
    assert Settings.from_env(env).meta_page_access_token == PAGE_TOKEN_VALUE


def test_without_a_page_token_nothing_is_asked_stored_or_mounted(cloud):
    import pty

    controller, terminal = pty.openpty()  # a terminal is there: still no prompt for it
    env = {"PATH": cloud.path, "HOME": "/nonexistent", "LC_ALL": "C", **cloud.env(), **SETTINGS, **SECRET_VALUES}
    proc = subprocess.Popen([str(DEPLOY), "--project", PROJECT, "--skip-checks"], cwd=ROOT, env=env,
                            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(terminal)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"deploy.sh waited for input: {stderr[-500:]}")
    finally:
        os.close(controller)
    assert proc.returncode == 0, stderr
    assert f"Value for {PAGE_TOKEN}" not in stdout + stderr
    assert stderr.count(NO_PAGE_TOKEN_NOTE) == 1
    assert f"until you export {PAGE_TOKEN} and run deploy.sh again" in stderr
    resources = cloud.resources()
    assert set(resources["secrets"]) == set(SECRET_NAMES)
    calls = cloud.gcloud_calls()
    assert not [a for a in calls if a[:2] == ["secrets", "create"] and a[2] == PAGE_TOKEN]
    assert not [a for a in calls if a[:2] == ["secrets", "add-iam-policy-binding"] and a[2] == PAGE_TOKEN]
    assert set(resources["functions"]) == set(PUBLIC) | set(PRIVATE)
    for name, flags in resources["functions"].items():
        assert mounted_secrets(flags["set-secrets"]) == {s: f"{s}:latest" for s in SECRET_NAMES}, name


@pytest.mark.parametrize("exported", [False, True], ids=["unset", "same-value"])
def test_an_existing_page_token_stays_mounted_without_a_new_version(exported, cloud, first_deploy_with_page_token):
    cloud.state.write_text(first_deploy_with_page_token[2])
    env = {**SECRET_VALUES, **({PAGE_TOKEN: PAGE_TOKEN_VALUE} if exported else {})}
    result = deploy_for_real(cloud, env=env)
    assert result.returncode == 0, result.stderr
    done = verbs(cloud.gcloud_calls())
    assert ("secrets", "create") not in done
    assert ("secrets", "versions", "add") not in done
    assert cloud.resources()["secrets"][PAGE_TOKEN] == [PAGE_TOKEN_VALUE]
    assert NO_PAGE_TOKEN_NOTE not in result.stderr
    assert PAGE_TOKEN_VALUE not in result.stdout + result.stderr
    deployed_now = deploys(cloud.gcloud_calls())
    assert set(deployed_now) == set(PUBLIC) | set(PRIVATE)
    for name, flags in deployed_now.items():
        assert mounted_secrets(flags["--set-secrets"]) == {
            s: f"{s}:latest" for s in [*SECRET_NAMES, PAGE_TOKEN]}, name


def test_health_checks_call_each_function(first_deploy):
    result, calls, _ = first_deploy
    curls = [c["curl"] for c in calls if "curl" in c]
    base = f"https://asia-southeast2-{PROJECT}.cloudfunctions.net"
    assert {c[-1] for c in curls} == {f"{base}/{n}/healthz" for n in {**PUBLIC, **PRIVATE}}
    private = [c for c in curls if "/sweep/" in c[-1]][0]
    assert "Authorization: Bearer fake-identity-token" in private
    assert "fake-identity-token" not in result.stdout


def test_failed_health_checks_are_reported(deployed):
    failing = run(DEPLOY, "--project", PROJECT, "--only", "meta", path=deployed.path,
                  env={**deployed.env(), **SETTINGS, "FAKE_CURL_EXIT": "22"})
    assert failing.returncode == 2
    assert "meta did not answer /healthz" in failing.stderr
    assert "gcloud functions logs read meta" in failing.stderr


def test_scheduler_creates_then_updates_its_jobs(deployed):
    first = run(SCHEDULER, "--project", PROJECT, path=deployed.path, env=deployed.env())
    assert first.returncode == 0, first.stderr
    assert verbs(deployed.gcloud_calls()).count(("scheduler", "jobs", "create", "http")) == 3
    created = [a for a in deployed.gcloud_calls() if a[:4] == ["scheduler", "jobs", "create", "http"]]
    assert flags_of(created[0])["--uri"] == "https://sweep-x7k2qa-et.a.run.app"

    deployed.reset_log()
    second = run(SCHEDULER, "--project", PROJECT, path=deployed.path, env=deployed.env())
    assert second.returncode == 0, second.stderr
    done = verbs(deployed.gcloud_calls())
    assert ("scheduler", "jobs", "create", "http") not in done
    assert ("iam", "service-accounts", "create") not in done
    updates = [a for a in deployed.gcloud_calls() if a[:4] == ["scheduler", "jobs", "update", "http"]]
    assert [a[4] for a in updates] == ["kmc-sweep", "kmc-daily", "kmc-media"]
    for argv in updates:
        flags = flags_of(argv)
        assert set(flags) <= GCLOUD_FLAGS[("scheduler", "jobs", "update", "http")] | GLOBAL_FLAGS
        assert flags["--update-headers"] == "Content-Type=application/json"
    assert sorted(deployed.resources()["jobs"]) == ["kmc-daily", "kmc-media", "kmc-sweep"]


def test_scheduler_before_deploy_says_what_to_do(cloud):
    result = run(SCHEDULER, "--project", PROJECT, path=cloud.path, env=cloud.env())
    assert result.returncode != 0
    assert "run scripts/deploy.sh first" in result.stderr


# --- what gets uploaded, and lint --------------------------------------------------------------

@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to evaluate ignore rules")
def test_gcloudignore_uploads_the_code_but_not_tests_data_or_secrets(tmp_path):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    runtime = [p for p in tracked if p in ("main.py", "requirements.txt")
               or p.startswith(("functions/", "sheets_schema/"))]
    assert "functions/config.py" in runtime
    excluded = ["tests/unit/test_logs.py", "data/kmc.sqlite3", "data/outbox/whatsapp.jsonl",
                "docs/deploy.md", ".git/config", "scripts/deploy.sh", "kmc.env", ".env",
                "functions/__pycache__/x.cpython-311.pyc", "requirements-dev.txt"]
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text((ROOT / ".gcloudignore").read_text())
    result = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=repo, text=True,
                            input="\n".join(runtime + excluded), capture_output=True)
    ignored = set(result.stdout.split())
    assert not ignored & set(runtime), f"runtime files left out of the upload: {sorted(ignored & set(runtime))}"
    assert ignored == set(excluded)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (CI installs it)")
def test_scripts_are_shellcheck_clean():
    scripts = sorted(str(p) for p in (ROOT / "scripts").glob("*.sh"))
    assert scripts
    result = subprocess.run(["shellcheck", "--external-sources", *scripts], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the guides stay true to the scripts and the code -----------------------------------------

DOCS = {name: (ROOT / "docs" / name).read_text() for name in ("deploy.md", "operations.md")}


def logged_messages() -> set[str]:
    """Every literal message passed to log(...) in the package."""
    pattern = re.compile(r"""\blog\(\s*"[A-Z]+",\s*(?:"([^"]+)"|"([^"]+)" if [^)]*? else "([^"]+)")""")
    found: set[str] = set()
    for path in (ROOT / "functions").rglob("*.py"):
        for match in pattern.finditer(path.read_text()):
            found.update(m for m in match.groups() if m)
    return found


def test_logging_queries_name_messages_the_code_really_logs():
    messages = logged_messages()
    assert "complaint stored" in messages
    queried = []
    for text in DOCS.values():
        queried += re.findall(r'jsonPayload\.message=\\?"([^"\\]+)\\?"', text)
        for regex in re.findall(r'jsonPayload\.message=~"([^"]+)"', text):
            assert any(re.search(regex, m) for m in messages), f"no log message matches {regex}"
    assert "complaint stored" in queried
    for message in queried:
        assert message in messages, f"docs query a log message the code never writes: {message!r}"


def test_deploy_guide_is_complete_in_both_languages():
    text = DOCS["deploy.md"]
    indonesian = text[text.index("## Bahasa Indonesia"):text.index("## English")]
    english = text[text.index("## English"):text.index("## Observing")]
    steps_id = re.findall(r"^### (\d+)\. ", indonesian, re.M)
    steps_en = re.findall(r"^### (\d+)\. ", english, re.M)
    assert steps_id == steps_en == [str(n) for n in range(1, len(steps_en) + 1)]
    for part in (indonesian, english):
        for must in ("scripts/deploy.sh", "scripts/scheduler.sh", "main.py bootstrap",
                     "application-default login", "WHATSAPP_VERIFY_TOKEN", "/meta", "/form",
                     "SMTP_HOST", "--dry-run"):
            assert must in part


def test_guides_name_what_the_scripts_create(deploy_plan, scheduler_plan):
    text = DOCS["deploy.md"]
    for name in deploys(printed_commands(deploy_plan.stdout)):
        assert f"`{name}`" in text
    for job in JOB_FUNCTIONS:
        assert f"`{job}`" in text


def test_script_options_in_the_guides_exist(toolbox):
    helps = {script.name: run(script, "--help", path=toolbox).stdout for script in (DEPLOY, SCHEDULER)}
    for text in DOCS.values():
        for line in text.splitlines():
            for script, help_text in helps.items():
                if script in line:
                    for option in re.findall(r"(?<![\w-])--[a-z][a-z-]+", line.split(script, 1)[1]):
                        assert option in help_text, f"{script} has no {option}: {line}"


# --- the functions start with exactly what deploy.sh gives them --------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, headers: dict | None = None, body: bytes | None = None):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_functions_start_under_functions_framework_with_the_deployed_settings(deploy_plan, tmp_path):
    """What Cloud Run runs: `functions-framework --target=ENTRY` with the env deploy.sh sets,
    the mounted secrets, and the Google backend (here the Sheets API stand-in on loopback)."""
    import time
    import urllib.parse

    from tests.fakes.fake_sheets import FakeSheets

    functions = deploys(printed_commands(deploy_plan.stdout))
    fake = FakeSheets()
    fake.create("KMC Aduan", spreadsheet_id=SETTINGS["KMC_SPREADSHEET_ID"])
    fake.create("Kontak", spreadsheet_id=SETTINGS["KMC_CONTACTS_SPREADSHEET_ID"])
    with fake.serve() as host:
        base_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8",
                    "PYTHONPATH": str(ROOT), "SHEETS_EMULATOR_HOST": host, **SECRET_VALUES}
        deployed_env = env_vars(functions["meta"]["--set-env-vars"])
        # The IT person's step 5: bootstrap the workbook with the same settings.
        boot = subprocess.run([sys.executable, "main.py", "bootstrap"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**base_env, **deployed_env})
        assert boot.returncode == 0, boot.stderr

        servers = {}
        try:
            for name, flags in functions.items():
                port = free_port()
                env = {**base_env, **env_vars(flags["--set-env-vars"]), "K_SERVICE": name, "PORT": str(port)}
                servers[name] = (port, subprocess.Popen(
                    [sys.executable, "-m", "functions_framework", f"--target={flags['--entry-point']}",
                     "--host=127.0.0.1", f"--port={port}"],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            for name, (port, proc) in servers.items():
                deadline = time.monotonic() + 180  # generous: CI machines can be slow
                while True:
                    assert proc.poll() is None, f"{name} exited: {proc.stderr.read()[-2000:]}"
                    try:
                        status, body = http("GET", f"http://127.0.0.1:{port}/healthz")
                        break
                    except OSError:
                        assert time.monotonic() < deadline, f"{name} did not start"
                        time.sleep(0.2)
                assert status == 200, body
                assert json.loads(body)["backend"] == "google"

            # Meta's verification handshake uses the verify token mounted from Secret Manager.
            port = servers["meta"][0]
            query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.challenge": "8157",
                                            "hub.verify_token": SECRET_VALUES["WHATSAPP_VERIFY_TOKEN"]})
            assert http("GET", f"http://127.0.0.1:{port}/?{query}") == (200, "8157")
            status, page = http("GET", f"http://127.0.0.1:{servers['form'][0]}/")
            assert status == 200 and "<form" in page
            # Cloud Scheduler's POST (IAM already checked its OIDC token) runs a real sweep.
            status, body = http("POST", f"http://127.0.0.1:{servers['sweep'][0]}/", body=b"{}", headers={
                "Authorization": "Bearer oidc-token-checked-by-cloud-run",
                "X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736/7;o=1"})
            assert status == 200, body
            assert json.loads(body)["job"] == "sweep"
        finally:
            logs = {}
            for _, proc in servers.values():
                proc.terminate()
            for name, (_, proc) in servers.items():
                try:
                    logs[name] = proc.communicate(timeout=10)[1]
                except subprocess.TimeoutExpired:
                    proc.kill()
    assert fake.counts["values.batchGet"] >= 1  # the sweep read the workbook through the API
    # Its log lines are JSON, linked to the request's trace in this project.
    entries = [json.loads(line) for line in logs["sweep"].splitlines() if line.startswith("{")]
    done = [e for e in entries if e.get("message") == "job done"]
    assert done and done[0]["logging.googleapis.com/trace"] == (
        f"projects/{PROJECT}/traces/4bf92f3577b34da6a3ce929d0e0e4736")


# --- the attachments bucket (issue 20) ---------------------------------------------------------------

BUCKET = f"gs://{PROJECT}-kmc-lampiran"


def test_the_attachments_bucket_is_private_with_lifecycle_and_only_the_runtime_manages_it(deploy_plan):
    commands = printed_commands(deploy_plan.stdout)
    (create,) = [a for a in commands if a[:3] == ["storage", "buckets", "create"]]
    flags = flags_of(create)
    assert create[3] == BUCKET and flags["--location"] == "asia-southeast2"  # the evidence stays in Indonesia
    assert "--uniform-bucket-level-access" in flags and "--public-access-prevention" in flags
    rules = json.loads((ROOT / flags["--lifecycle-file"]).read_text())["rule"]
    assert {(r["condition"]["matchesPrefix"][0], r["action"]["type"]) for r in rules} == {
        ("masuk/", "Delete"), ("arsip/", "Delete")}  # live cases' files (kasus/) are never aged out
    grants = {(a[3], flags_of(a)["--member"], flags_of(a)["--role"]) for a in commands
              if a[:3] == ["storage", "buckets", "add-iam-policy-binding"]}
    runtime = f"serviceAccount:kmc-runtime@{PROJECT}.iam.gserviceaccount.com"
    assert grants == {(BUCKET, runtime, "roles/storage.objectAdmin")}  # nobody else, nothing public
    assert "allUsers" not in deploy_plan.stdout and "allAuthenticatedUsers" not in deploy_plan.stdout
    keys = [command_key(a) for a in commands]
    assert keys.index(("storage", "buckets", "create")) < keys.index(("functions", "deploy"))


def test_the_functions_are_told_the_bucket_and_settings_accept_it(deploy_plan):
    functions = deploys(printed_commands(deploy_plan.stdout))
    for flags in functions.values():
        assert env_vars(flags["--set-env-vars"])["KMC_MEDIA_BUCKET"] == BUCKET.removeprefix("gs://")
    settings = Settings.from_env({**env_vars(functions["intake"]["--set-env-vars"]), **SECRET_VALUES,
                                  "K_SERVICE": "intake"})
    assert settings.media_bucket == BUCKET.removeprefix("gs://") and settings.media_fetch


def test_staff_readers_get_view_access_with_their_own_accounts(toolbox):
    result = deploy_dry_run(toolbox=toolbox, env={"KMC_MEDIA_READERS": "group:opd-ketapang@googlegroups.com, "
                                                                       "user:admin.kmc@gmail.com"})
    grants = {(flags_of(a)["--member"], flags_of(a)["--role"]) for a in printed_commands(result.stdout)
              if a[:3] == ["storage", "buckets", "add-iam-policy-binding"]}
    assert ("group:opd-ketapang@googlegroups.com", "roles/storage.objectViewer") in grants
    assert ("user:admin.kmc@gmail.com", "roles/storage.objectViewer") in grants
    bad = run(DEPLOY, "--project", PROJECT, "--dry-run", path=toolbox,
              env={**SETTINGS, "KMC_MEDIA_READERS": "opd@example.go.id"})
    assert bad.returncode != 0 and "needs a prefix" in bad.stderr


def test_a_second_deploy_updates_the_bucket_instead_of_creating_it(deployed):
    result = deploy_for_real(deployed, env=SECRET_VALUES)
    assert result.returncode == 0, result.stderr
    done = verbs(deployed.gcloud_calls())
    assert ("storage", "buckets", "create") not in done and ("storage", "buckets", "update") in done
    bucket = deployed.resources()["buckets"][BUCKET]
    assert bucket["lifecycle"]["rule"] and "public-access-prevention" in bucket
