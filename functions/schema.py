"""The workbook definition read from `sheets_schema/` (columns, OPDs, kecamatan, values).

Pure: reads TOML files shipped with the code, nothing else.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "sheets_schema"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    editor: str  # "system" | "staff"
    type: str  # "text" | "datetime" | "choice"
    width: int = 120
    choices: str = ""

    @property
    def staff_editable(self) -> bool:
        return self.editor == "staff"


@dataclass(frozen=True)
class Opd:
    key: str
    title: str
    name: str
    scope: str
    kind: str  # "opd" | "triage" | "outside"
    head_email: str = ""


@dataclass(frozen=True)
class Kecamatan:
    name: str
    variants: tuple[str, ...]


@dataclass(frozen=True)
class Schema:
    columns: tuple[Column, ...]
    opds: tuple[Opd, ...]
    kecamatan: tuple[Kecamatan, ...]
    values: dict = field(hash=False, compare=False, default_factory=dict)

    @cached_property  # read for every cell of every row: computed once per schema
    def column_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    @cached_property
    def staff_keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.columns if c.staff_editable)

    @cached_property
    def datetime_keys(self) -> frozenset[str]:
        return frozenset(c.key for c in self.columns if c.type == "datetime")

    @cached_property
    def opd_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.opds)

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)

    def opd(self, key: str) -> Opd:
        for o in self.opds:
            if o.key == key:
                return o
        raise KeyError(key)

    def choices(self, column_key: str) -> tuple[str, ...]:
        source = self.column(column_key).choices
        if source == "opd_keys":
            return self.opd_keys
        return tuple(self.values.get(source, ()))


def _read(directory: Path, name: str) -> dict:
    with open(directory / name, "rb") as fh:
        return tomllib.load(fh)


@cache
def load_schema(directory: Path = SCHEMA_DIR) -> Schema:
    """Load and validate the workbook schema; a broken schema fails loudly at startup."""
    columns = tuple(Column(**c) for c in _read(directory, "columns.toml")["column"])
    opds = tuple(Opd(**o) for o in _read(directory, "opds.toml")["opd"])
    kec = tuple(
        Kecamatan(k["name"], tuple(k.get("variants", ())))
        for k in _read(directory, "kecamatan.toml")["kecamatan"]
    )
    values = _read(directory, "values.toml")
    keys = [c.key for c in columns]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate column key in columns.toml")
    okeys = [o.key for o in opds]
    if len(set(okeys)) != len(okeys):
        raise ValueError("duplicate OPD key in opds.toml")
    return Schema(columns, opds, kec, values)
