"""Normalise how citizens really write (slang, Ketapang Malay, elongation, `2` reduplication,
emoji, greetings) into plain lower-case Indonesian tokens that rules and models can match.

Pure and fast: the lexicon is loaded once from `sheets_schema/slang.toml` (local overrides).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from functions.schema import SCHEMA_DIR

GENERAL_LEXICON = Path(__file__).resolve().parent / "data" / "colloquial_id.tsv"

_URL = re.compile(r"(?i)\bhttps?://\S+|\bwww\.\S+")
_MENTION = re.compile(r"@\w+")
_REDUP_DIGIT = re.compile(r"(?<![\w])([a-z]{2,})2(?=[^\w]|$|nya|an|kan)")
_REDUP_HYPHEN = re.compile(r"\b([a-z]{2,})-(\1)\b")
_ELONGATION = re.compile(r"([a-z])\1{2,}")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, eq=False)  # hashed by identity: one instance per directory
class Lexicon:
    """Token replacements: `yg` -> `yang`, `aek` -> `air`, `sdh` -> `sudah` ..., and emoji."""

    words: dict[str, str]
    greetings: frozenset[str]
    emoji: dict[str, str] = field(default_factory=dict)
    emoji_pattern: re.Pattern | None = None
    keep: frozenset[str] = frozenset()

    def replace(self, token: str) -> str:
        if token in self.keep:
            return token
        if token in self.words:
            return self.words[token]
        # elongation ("tolonggg", "parahhh") is undone only for words we do not know as typed,
        # so abbreviations such as "pppk" survive
        collapsed = _ELONGATION.sub(r"\1", token)
        return self.words.get(collapsed, collapsed)


def _read_general(path: Path) -> dict[str, str]:
    words: dict[str, str] = {}
    if not path.exists():
        return words
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or "\t" not in line:
                continue
            key, value = line.rstrip("\n").split("\t", 1)
            words[key] = value
    return words


def load_lexicon(directory: Path = SCHEMA_DIR) -> Lexicon:
    """The general colloquial lexicon (functions/data) overlaid with sheets_schema/slang.toml;
    loaded once per directory."""
    return _load_lexicon(Path(directory))


@cache
def _load_lexicon(directory: Path) -> Lexicon:
    with open(directory / "slang.toml", "rb") as fh:
        data = tomllib.load(fh)
    local: dict[str, str] = {}
    for section in ("slang", "malay"):
        for key, value in data.get(section, {}).items():
            local[key.lower()] = value.lower()
    keep = {w.lower() for w in data.get("keep", {}).get("words", ())}
    words: dict[str, str] = {}
    for key, value in _read_general(GENERAL_LEXICON).items():
        if key in keep:
            continue
        # the general lexicon's colloquial targets (enggak, banget ...) get our canonical form
        words[key] = " ".join(local.get(v, v) for v in value.split())
    words.update(local)
    greetings = frozenset(g.lower() for g in data.get("greetings", {}).get("words", ()))
    emoji = {k: v.lower() for k, v in data.get("emoji", {}).items()}
    pattern = (re.compile("|".join(re.escape(e) for e in sorted(emoji, key=len, reverse=True)))
               if emoji else None)
    return Lexicon(words, greetings, emoji, pattern, frozenset(keep - set(local)))


def _prepare(text: str, lex: Lexicon) -> str:
    # each pass runs only when its trigger character is present: most texts need none
    if lex.emoji_pattern is not None and not text.isascii():
        text = lex.emoji_pattern.sub(lambda m: f" {lex.emoji[m.group(0)]} ", text)
    text = text.lower()
    if "http" in text or "www." in text:
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _MENTION.sub(" ", text)
    if "-" in text:
        text = _REDUP_HYPHEN.sub(r"\1 \1", text)
    if "2" in text:
        text = _REDUP_DIGIT.sub(r"\1 \1", text)
    return text


def tokens(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """Lower-case word tokens with slang and local Malay replaced by standard Indonesian."""
    lex = lexicon or load_lexicon()
    out: list[str] = []
    for raw in _WORD.findall(_prepare(text, lex)):
        out.extend(_replace(lex, raw))
    return out


@lru_cache(maxsize=65536)
def _replace(lex: Lexicon, raw: str) -> tuple[str, ...]:
    return tuple(lex.replace(raw).split())


def normalize(text: str, lexicon: Lexicon | None = None) -> str:
    """The text as one line of normalised tokens separated by single spaces."""
    return " ".join(tokens(text, lexicon))


def is_greeting_only(text: str, lexicon: Lexicon | None = None) -> bool:
    """True when the message carries nothing but greetings/politeness (no complaint yet)."""
    lex = lexicon or load_lexicon()
    toks = tokens(text, lex)
    return all(t in lex.greetings for t in toks)


# --- light stemming -------------------------------------------------------------------------
# Sastrawi gives proper stems but takes ~30 ms per word (regex backtracking), far too slow for
# intake. Rules only need to know whether a token *could* be a form of a keyword, so each token
# is expanded into its plausible roots (affixes stripped, nasal assimilation undone) and a
# keyword matches when it is one of them. Over-generation is harmless: keywords are specific.
_SUFFIXES = ("nya", "lah", "kah", "pun", "ku", "mu")
_DERIV_SUFFIXES = ("kan", "an", "i")
_PREFIXES = (
    ("meng", ("", "k")), ("meny", ("s",)), ("mem", ("", "p")), ("men", ("", "t")), ("me", ("",)),
    ("peng", ("", "k")), ("peny", ("s",)), ("pem", ("", "p")), ("pen", ("", "t")), ("pe", ("",)),
    ("ber", ("",)), ("be", ("",)), ("ter", ("",)), ("per", ("",)), ("di", ("",)), ("ke", ("",)),
    ("se", ("",)),
)
_VOWELS = frozenset("aeiou")
_MIN_ROOT = 3


def _strip_prefixes(word: str, out: set[str], depth: int = 0) -> None:
    out.add(word)
    if depth == 2:
        return
    for prefix, restores in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_ROOT:
            rest = word[len(prefix) :]
            for r in restores:
                # nasal restoration only applies before a vowel: men+ulis -> tulis
                if r and rest[0] not in _VOWELS:
                    continue
                _strip_prefixes(r + rest, out, depth + 1)


@lru_cache(maxsize=65536)
def forms(token: str) -> frozenset[str]:
    """The token and its plausible roots: 'berlubang' -> {'berlubang', 'lubang', ...}."""
    bases = {token}
    for suf in _SUFFIXES:
        if token.endswith(suf) and len(token) - len(suf) >= _MIN_ROOT + 1:
            bases.add(token[: -len(suf)])
    for base in list(bases):
        for suf in _DERIV_SUFFIXES:
            if base.endswith(suf) and len(base) - len(suf) >= _MIN_ROOT + 1:
                bases.add(base[: -len(suf)])
    out: set[str] = set()
    for base in bases:
        _strip_prefixes(base, out)
    return frozenset(out)
