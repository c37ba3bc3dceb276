import pytest

from functions.model import ANONYMOUS, NO_NAME, Contact, InvalidComplaint
from functions.text import MAX_TEXT_CHARS, clean_text, display_name, mask_phone, normalise_phone, valid_phone


@pytest.mark.parametrize("raw", ["", "   ", "\n\t \n", "\x00\x01", "\u202e\u200b"])
def test_empty_complaints_are_refused_in_indonesian(raw):
    with pytest.raises(InvalidComplaint, match="tidak boleh kosong"):
        clean_text(raw)


def test_a_megabyte_of_text_is_kept_whole_and_a_form_field_limit_is_explained():
    # a citizen's message is never refused for its content (issue 16, item 26) ...
    assert len(clean_text("a" * 1_000_000)) == 1_000_000
    # ... while a form field the person can shorten says how long it may be
    with pytest.raises(InvalidComplaint, match="terlalu panjang .1.000.000 karakter.. Maksimal 4.000"):
        clean_text("a" * 1_000_000, max_chars=MAX_TEXT_CHARS)


def test_text_at_the_limit_is_accepted():
    assert len(clean_text("a" * MAX_TEXT_CHARS)) == MAX_TEXT_CHARS


def test_control_characters_and_bidi_overrides_are_removed_but_lines_kept():
    assert clean_text("jalan\x00 rusak\u202e\r\nmohon\x1b dibantu") == "jalan rusak\nmohon dibantu"


def test_arabic_letter_mark_isolates_and_terminal_escapes_are_removed_whole():
    # issue 16, items 2 and 13: U+061C survived, and `\x1b[31m` left `[31m` behind
    assert clean_text("jalan\u061c rusak \x1b[31mparah\x1b[0m \u2066di\u2069 desa\x9b2J") == "jalan rusak parah di desa"
    assert clean_text("baris satu\u2028baris dua") == "baris satu\nbaris dua"


def test_invalid_utf8_becomes_the_replacement_character_not_a_refusal():
    broken = b"jalan rusak \xff\xfe".decode("utf-8", "surrogateescape")
    assert clean_text(broken) == "jalan rusak \ufffd\ufffd"
    assert clean_text("banjir \ud83d lagi") == "banjir \ufffd lagi"  # a cut emoji
    assert clean_text("\ud83d\ude00 banjir") == "\U0001f600 banjir"  # a pair arrived as two code points


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+62813", "-tolong", "@bupati jalan rusak"])
def test_formula_like_text_is_kept_verbatim(text):
    assert clean_text(text) == text


@pytest.mark.parametrize("raw,expected", [
    ("081328383222", "0813****3222"), ("+62 813-2838-3222", "0813****3222"), ("6281328383222", "0813****3222"),
    ("", ""), ("123", "****"),
])
def test_phone_numbers_are_masked(raw, expected):
    assert mask_phone(raw) == expected


def test_phone_normalisation_and_validation():
    assert normalise_phone("+62 813 2838 3222") == "081328383222"
    assert valid_phone("0813-2838-3222") and not valid_phone("12345") and not valid_phone("0213456")


@pytest.mark.parametrize("contact,expected", [
    (Contact(name="Budi Santoso Wijaya"), "Budi S. W."),
    (Contact(name="Siti"), "Siti"),
    (Contact(name="Budi Santoso", anonymous=True), ANONYMOUS),
    (Contact(name=""), NO_NAME),
    (Contact(name="081328383222"), NO_NAME),
    (Contact(name="\u202eAdmin\u202c A.\x07"), "Admin A."),
])
def test_reporter_column_never_shows_a_full_name_or_phone(contact, expected):
    assert display_name(contact) == expected
