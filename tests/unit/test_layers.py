"""The layers hold: an import check of every module under `functions/` (AST, no import runs).

Rules (DESIGN.md "Architecture", docs/layers.md):
- the pure core imports no adapter, service, channel, composition root, environment or I/O
  module: it is data and rules, testable with nothing but values;
- channels (wire format <-> model) never import stores: they call services;
- adapters (stores, mail, messaging) never import services or channels;
- services (use cases) never import channels or the composition root: they take ports. They
  may name `Settings` (functions/config.py: the typed settings value the container carries),
  but never build it: only the entry points call `Settings.from_env`.

Every import counts, including those inside functions (lazy imports are still dependencies).
Known exceptions are listed in ALLOWED with the reason and who removes them; an exception that
no longer occurs fails too, so the list only shrinks.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions"

# The pure core: top-level rule and data modules and the digest's numbers and rendering.
CORE = frozenset({
    "functions.case", "functions.journal", "functions.model", "functions.routing", "functions.routing_model", "functions.sla",
    "functions.schema", "functions.text", "functions.textnorm", "functions.tickets", "functions.timefmt",
    "functions.location", "functions.sentiment", "functions.directory",
    "functions.digest", "functions.digest.data", "functions.digest.render", "functions.digest.chart",
    "functions.digest.citizen",
})
# Cross-cutting helpers the core may use: structured logging to stderr (no I/O port).
CORE_MAY_USE = frozenset({"functions.logs"})
ADAPTERS = ("functions.stores", "functions.mail", "functions.messaging", "functions.queue", "functions.feeds")
EDGES = ("functions.bootstrap", "functions.config", "functions.server", "functions.handlers", "functions.cli",
         "functions.demo", "functions.web", "functions.http_client", "functions.sqlite_tx")
COMPOSITION = ("functions.bootstrap", "functions.server", "functions.handlers", "functions.cli", "functions.demo")
IO_MODULES = frozenset({"os", "sqlite3", "socket", "smtplib", "subprocess", "requests", "urllib.request",
                        "http.client", "gspread", "google", "shutil"})

# (importer, imported prefix) -> why it is still there. Issue 17 part B emptied this list; an entry
# added here needs its reason and who removes it.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module (and `from` member) imported anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                out |= {f"{module}.{a.name}" for a in node.names}
            else:
                module = node.module or ""
            out.add(module)
        elif isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", "") == "os":
            out.add("os.environ")
    return out


def under(name: str, prefixes) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations() -> dict[tuple[str, str], str]:
    """(importer, imported) -> the rule it breaks."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        for dep in imports_of(path):
            rule = broken_rule(me, dep)
            if rule:
                found[(me, dep)] = rule
    return found


def broken_rule(me: str, dep: str) -> str:
    if me in CORE:
        if under(dep, "functions") and not under(dep, tuple(CORE | CORE_MAY_USE)):
            return "core imports only the core"
        if under(dep, tuple(IO_MODULES)):
            return "core does no I/O and reads no environment"
    if under(me, "functions.channels") and under(dep, "functions.stores"):
        return "channels never import stores"
    if under(me, ADAPTERS) and under(dep, ("functions.services", "functions.channels")):
        return "adapters never import services or channels"
    if under(me, "functions.services") and under(dep, ("functions.channels",) + COMPOSITION):
        return "services never import channels or the composition root"
    return ""


def allowed(key: tuple[str, str]) -> bool:
    return any(key[0] == a and under(key[1], b) for a, b in ALLOWED)


def test_every_core_module_exists():
    names = {module_name(p) for p in PACKAGE.rglob("*.py")}
    assert CORE <= names, sorted(CORE - names)


def test_no_module_breaks_a_layer_rule():
    broken = {k: v for k, v in violations().items() if not allowed(k)}
    assert broken == {}, "\n".join(f"{a} imports {b}: {rule}" for (a, b), rule in sorted(broken.items()))


def test_every_known_exception_still_occurs():
    """Part B removes them; then the entry must go too (the list only shrinks)."""
    found = violations()
    stale = [k for k in ALLOWED if not any(me == k[0] and under(dep, k[1]) for me, dep in found)]
    assert stale == []


@pytest.mark.parametrize("me, dep, rule", [
    ("functions.case", "functions.stores.port", "core imports only the core"),
    ("functions.sla", "os", "core does no I/O and reads no environment"),
    ("functions.routing", "os.environ", "core does no I/O and reads no environment"),
    ("functions.channels.meta", "functions.stores.local", "channels never import stores"),
    ("functions.stores.google", "functions.services.sweep", "adapters never import services or channels"),
    ("functions.services.sweep", "functions.channels.meta", "services never import channels or the composition root"),
    ("functions.services.sweep", "functions.bootstrap", "services never import channels or the composition root"),
    ("functions.channels.meta", "functions.services.conversation", ""),  # channels call services
    ("functions.services.sweep", "functions.stores.port", ""),  # services take ports
    ("functions.services.context", "functions.config.Settings", ""),  # the typed settings value
    ("functions.services.findings", "functions.channels.monitoring", "services never import channels or the composition root"),
    ("functions.channels.monitoring", "functions.stores.port", "channels never import stores"),
])
def test_the_rules_themselves(me, dep, rule):
    assert broken_rule(me, dep) == rule


def test_only_entry_points_read_the_environment_into_settings():
    """`Settings.from_env` is called by the entry points (bootstrap, cli, server, ...), never by a
    service, channel or adapter: they get the container's settings."""
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        if under(me, EDGES + ("functions.selftest",)):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "from_env":
                calls.append(f"{me}:{node.lineno}")
    assert calls == []


# -- services read cases, not raw rows ------------------------------------------------------------

# Reads by column key in services/ and digest/ that are NOT stored rows: (file, receiver) -> what it is.
NOT_STORED_ROWS = {
    ("functions/services/conversation.py", "values"): "the cells this handler is about to write",
    ("functions/services/evaluation.py", "row"): "rows of the eval-routing CSV file",
    ("functions/services/notify.py", "d"): "a delivery record decoded from the Log's JSON",
    ("functions/services/intake_worker.py", "body"): "a queue task's JSON body (the complaint in transit)",
    ("functions/services/intake_worker.py", "k"): "the contact part of a queue task's body",
}


def raw_row_reads() -> list[tuple[str, str, int]]:
    """(file, receiver, line) of every `x.get("<column key>")` and `x["<column key>"]` (read) in
    services and the digest."""
    from functions.schema import load_schema

    keys = set(load_schema().column_keys)
    found = []
    for path in sorted([*(PACKAGE / "services").glob("*.py"), *(PACKAGE / "digest").glob("*.py")]):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in keys):
                found.append((rel, ast.unparse(node.func.value), node.lineno))
            elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                  and isinstance(node.slice, ast.Constant) and node.slice.value in keys):
                found.append((rel, ast.unparse(node.value), node.lineno))
    return found


def test_services_read_cases_not_raw_rows():
    """A stored complaint reaches a service as a `Case` (functions/case.py): the rules are its
    methods, so no service re-derives them from cells (issue 17)."""
    raw = [f"{f}:{line} {who}" for f, who, line in raw_row_reads() if (f, who) not in NOT_STORED_ROWS]
    assert raw == []


def test_channels_never_reach_a_store_through_the_container():
    """An import check alone misses `svc.workbook.log_add(...)` in a channel: the store comes in
    through the container. Channels parse and call services; the services touch the stores."""
    reached = []
    for path in sorted((PACKAGE / "channels").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"workbook", "contacts"}:
                reached.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert reached == []
