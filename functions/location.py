"""Find where a complaint happens: one of the 20 kecamatan (with spelling variants such as
Sei/Sungai, "Ketapang kota" = Delta Pawan) and the desa/kelurahan when the citizen names it.

The kecamatan list is `sheets_schema/kecamatan.toml` (read through `load_schema()`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from functions.schema import SCHEMA_DIR, load_schema
from functions.textnorm import Lexicon, load_lexicon, tokens

# Words that end a place name typed in lower case ("desa sungai awan rusak parah").
_STOP = frozenset(
    """
    di ke dari yang dan atau itu ini ada tidak belum sudah sangat banyak kami kita saya kamu
    mereka dia kecamatan kelurahan desa dusun rt rw jalan gang pak bapak ibu mohon tolong
    segera karena sejak sampai tapi jadi rusak parah mati padam bocor banjir sampah lampu air
    sekolah puskesmas pasar sering selalu masih sudah lagi juga kok ya sih nya tersebut sana
    sini dekat depan belakang samping arah menuju kabupaten ketapang kota untuk dengan pada
    """.split()
)
_PLACE_WORDS = ("desa", "kelurahan", "dusun")
_CAPITALISED_PLACE = re.compile(
    r"\b(?:[Dd]esa|[Dd]s\.?|[Kk]elurahan|[Kk]el\.|[Dd]usun|[Dd]sn\.?)\s+"
    r"((?:(?:Sei|Sui|Sungai|Tanjung|Tj\.?|Padang|Pantai)\s+)?[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*){0,3})"
)


@dataclass(frozen=True)
class Gazetteer:
    # first normalised token -> [(variant tokens, kecamatan name)], longest variant first
    kecamatan: dict[str, list[tuple[tuple[str, ...], str]]]


def load_gazetteer(directory: Path = SCHEMA_DIR) -> Gazetteer:
    """The kecamatan names and variants, indexed; loaded once per directory."""
    return _load_gazetteer(Path(directory))


@cache
def _load_gazetteer(directory: Path) -> Gazetteer:
    lex = load_lexicon(directory)
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for kec in load_schema(directory).kecamatan:
        for variant in {kec.name, *kec.variants}:
            toks = tuple(tokens(variant, lex))
            if toks and (toks, kec.name) not in index.get(toks[0], ()):
                index.setdefault(toks[0], []).append((toks, kec.name))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))
    return Gazetteer(index)


def find_kecamatan(toks: list[str], gaz: Gazetteer) -> str:
    """The first kecamatan named in the tokens, or ''."""
    for i, t in enumerate(toks):
        for variant, name in gaz.kecamatan.get(t, ()):
            if tuple(toks[i : i + len(variant)]) == variant:
                return name
    return ""


def _title(words: list[str]) -> str:
    return " ".join(w if w.isupper() and len(w) > 1 else w.capitalize() for w in words)


def find_desa(text: str, toks: list[str]) -> str:
    """The desa/kelurahan/dusun named after its keyword: capitalised words as typed, or up to
    three lower-case words until a common word ends the name."""
    if "esa" in text or "usun" in text or "elurahan" in text or "ds" in text.lower():
        m = _CAPITALISED_PLACE.search(text)
        if m:
            words = m.group(1).split()
            words = ["Sungai" if w.rstrip(".").lower() in ("sei", "sui") else w for w in words]
            return _title([w for w in words if w.lower() not in ("kecamatan", "kec")])
    for i, t in enumerate(toks):
        if t in _PLACE_WORDS and i + 1 < len(toks):
            name: list[str] = []
            for w in toks[i + 1 : i + 4]:
                if w in _STOP or w.isdigit():
                    break
                name.append(w)
            if name:
                return _title(name)
    return ""


def place_name(text: str, toks: list[str], gaz: Gazetteer, lex: Lexicon | None = None) -> str:
    """'Desa Y, Kecamatan X', 'Kecamatan X', 'Desa Y' or ''."""
    kec = find_kecamatan(toks, gaz)
    desa = find_desa(text, toks)
    if desa and kec and desa.lower() == kec.lower():
        desa = ""
    parts = []
    if desa:
        parts.append(f"Desa {desa}")
    if kec:
        parts.append(f"Kecamatan {kec}")
    return ", ".join(parts)


def find_location(text: str, directory: Path = SCHEMA_DIR) -> str:
    """'Desa Y, Kecamatan X', 'Kecamatan X', 'Desa Y' or '' when no place is named."""
    lex = load_lexicon(directory)
    return place_name(text, tokens(text, lex), load_gazetteer(directory), lex)
