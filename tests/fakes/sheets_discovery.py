"""The official Sheets API v4 discovery document as the fake's schema: bodies, parameters, masks.

`google-api-python-client` (a dev dependency) ships Google's own `sheets.v4.json`; the fake
checks every request against it the way the real front end does:

- a body field the schema does not name is refused (`Invalid JSON payload received. Unknown
  name "x" at 'requests[0].add_sheet': Cannot find field.`), a value of the wrong type or outside
  an enum likewise (`Invalid value at '...' (TYPE_INT32), "abc"`);
- a query parameter the method does not declare is refused (`Cannot bind query parameter`), and
  an enum parameter (valueInputOption, valueRenderOption ...) must hold one of its values;
- a `fields` mask (of a batchUpdate request, or the `fields` query parameter that selects the
  response) may only name fields of the message it applies to; the response is cut to it.
"""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any


class SchemaError(Exception):
    """A request the real API refuses with 400 INVALID_ARGUMENT (message as Google words it)."""


@cache
def document() -> dict:
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "sheets.v4.json"
    return json.loads(path.read_text(encoding="utf-8"))


def schemas() -> dict[str, dict]:
    return document()["schemas"]


# Our kind names (stores/google/http.py kind_of) -> the discovery method.
def method(kind: str) -> dict:
    res = document()["resources"]["spreadsheets"]
    if kind.startswith("values."):
        return res["resources"]["values"]["methods"][kind.split(".", 1)[1]]
    return res["methods"][kind.split(".", 1)[1]]


@cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _type_name(spec: dict) -> str:
    fmt, typ = spec.get("format", ""), spec.get("type", "")
    return {"int32": "TYPE_INT32", "int64": "TYPE_INT64", "double": "TYPE_DOUBLE", "float": "TYPE_FLOAT",
            "uint32": "TYPE_UINT32"}.get(fmt, {"boolean": "TYPE_BOOL", "string": "TYPE_STRING"}.get(typ, typ.upper()))


def validate(value: Any, spec: dict, path: str) -> None:
    """Raise SchemaError where `value` does not fit `spec` (a discovery schema or property)."""
    if "$ref" in spec:
        spec = schemas()[spec["$ref"]]
    typ = spec.get("type")
    where = path or "(root)"

    def invalid() -> SchemaError:
        return SchemaError(f"Invalid value at '{where}' ({_type_name(spec)}), {json.dumps(value, ensure_ascii=False)[:60]}")

    if typ == "any" or value is None:
        return
    if typ == "object":
        if not isinstance(value, dict):
            raise invalid()
        props = spec.get("properties")
        extra = spec.get("additionalProperties")
        for key, item in value.items():
            sub = f"{path}.{_snake(key)}" if path else _snake(key)
            if props is not None and key in props:
                validate(item, props[key], sub)
            elif extra is not None:
                validate(item, extra, sub)
            else:
                at = f" at '{path}'" if path else ""
                raise SchemaError(f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')
        return
    if typ == "array":
        if not isinstance(value, list):
            raise invalid()
        for i, item in enumerate(value):
            validate(item, spec.get("items", {}), f"{path}[{i}]")
        return
    if typ == "boolean":
        if not isinstance(value, bool):
            raise invalid()
        return
    if typ == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"-?\d+", value)) or (isinstance(value, float) and value.is_integer())
        if not ok:
            raise invalid()
        return
    if typ == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid()
        return
    if typ == "string":
        if spec.get("format") == "int64" and isinstance(value, int) and not isinstance(value, bool):
            return
        if not isinstance(value, str):
            raise invalid()
        if "enum" in spec and value not in spec["enum"]:
            raise invalid()
        return


def check_query(kind: str, query: dict[str, list[str]]) -> None:
    """Every query parameter must be declared by the method (or be a standard one)."""
    params = method(kind).get("parameters", {})
    standard = document()["parameters"]
    for name, values in query.items():
        spec = params.get(name) or standard.get(name)
        if spec is None or spec.get("location") == "path":
            raise SchemaError(f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                              f"Field '{name}' could not be found in request message.")
        if len(values) > 1 and not spec.get("repeated"):
            raise SchemaError(f"Invalid value at '{name}': repeated values for a single parameter")
        for v in values:
            if "enum" in spec and v not in spec["enum"]:
                raise SchemaError(f"Invalid value at '{_snake(name)}' ({_type_name(spec)}), \"{v}\"")
            if spec.get("type") == "boolean" and v.lower() not in ("true", "false"):
                raise SchemaError(f"Invalid value at '{_snake(name)}' (TYPE_BOOL), \"{v}\"")


def check_body(kind: str, body: Any) -> None:
    ref = method(kind).get("request", {}).get("$ref")
    if ref is None:
        if body not in (None, {}, b"", ""):
            raise SchemaError("Invalid JSON payload received. This method takes no request body.")
        return
    validate(body, {"$ref": ref}, "")


# -- field masks ------------------------------------------------------------------------------
def parse_mask(mask: str) -> dict:
    """`sheets(properties(sheetId,title),protectedRanges)` / `a.b,c/d` -> nested dict; {} = leaf."""
    tree: dict = {}
    i = 0

    def parse(level: dict, stop: str) -> None:
        nonlocal i
        name = ""
        while i < len(mask):
            ch = mask[i]
            if ch in " \n\t":
                i += 1
                continue
            if ch == "(":
                i += 1
                node = _descend(level, name)
                parse(node, ")")
                name = ""
                continue
            if ch == ",":
                if name:
                    _descend(level, name)
                name = ""
                i += 1
                continue
            if ch == ")" and stop == ")":
                if name:
                    _descend(level, name)
                i += 1
                return
            name += ch
            i += 1
        if stop == ")":
            raise SchemaError(f"Invalid field selection {mask}")
        if name:
            _descend(level, name)

    parse(tree, "")
    return tree


def _descend(level: dict, dotted: str) -> dict:
    node = level
    for part in re.split(r"[./]", dotted):
        if not part:
            raise SchemaError(f"Invalid field selection {dotted}")
        node = node.setdefault(part, {})
    return node


def check_mask(tree: dict, schema_name: str, where: str) -> None:
    """Every name in the mask is a field of the message (`*` selects all)."""
    spec = schemas()[schema_name]
    for name, sub in tree.items():
        if name == "*":
            continue
        prop = spec.get("properties", {}).get(name)
        if prop is None:
            raise SchemaError(f"{where}: Invalid field selection {name}")
        if sub:
            target = prop.get("$ref") or prop.get("items", {}).get("$ref") or (
                prop.get("additionalProperties", {}).get("$ref"))
            if target is None:
                raise SchemaError(f"{where}: Invalid field selection {name}: it has no sub-fields")
            check_mask(sub, target, where)


def apply_mask(value: Any, tree: dict) -> Any:
    """The part of a response a `fields` selection asks for."""
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply_mask(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for name, sub in tree.items():
        if name in value:
            out[name] = apply_mask(value[name], sub)
    return out


def response_schema(kind: str) -> str:
    return method(kind)["response"]["$ref"]


# What a batchUpdate request's `fields` mask is relative to (the message its data lives in).
MASK_TARGETS: dict[str, str] = {
    "repeatCell": "CellData", "updateCells": "CellData", "appendCells": "CellData",
    "updateSheetProperties": "SheetProperties", "updateDimensionProperties": "DimensionProperties",
    "updateSpreadsheetProperties": "SpreadsheetProperties", "updateProtectedRange": "ProtectedRange",
    "updateDeveloperMetadata": "DeveloperMetadata",
}


def check_request_mask(name: str, spec: dict, where: str) -> None:
    target = MASK_TARGETS.get(name)
    if target is None or "fields" not in spec:
        return
    check_mask(parse_mask(spec["fields"]), target, where)
