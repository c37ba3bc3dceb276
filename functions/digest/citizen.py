"""The citizen's messages, from `templates/citizen.toml` beside the digest's templates.

`string.Template` rather than Jinja2: these texts are rendered on the intake path (the
acknowledgement), where Jinja2's import (~25 ms) would count against the cold start; the
file is read once, on first use. A value the template needs and the caller forgot raises.
"""
from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from string import Template

CITIZEN_TEMPLATES = Path(__file__).parent / "templates" / "citizen.toml"


@cache
def _templates() -> dict[str, Template]:
    with open(CITIZEN_TEMPLATES, "rb") as fh:
        return {key: Template(text) for key, text in tomllib.load(fh).items()}


def say(key: str, **values: object) -> str:
    """The message `key` with its `$values` filled in (KeyError when one is missing)."""
    return _templates()[key].substitute({k: str(v) for k, v in values.items()})


def keys() -> frozenset[str]:
    return frozenset(_templates())
