"""Normalisation: how citizens write -> tokens the rules and the model can match."""
import pytest

from functions.textnorm import forms, is_greeting_only, normalize, tokens


@pytest.mark.parametrize(
    "raw, expected",
    [
        # abbreviations of WhatsApp complaints
        ("jln rusak, mhn tlg diperbaiki", "jalan rusak mohon tolong diperbaiki"),
        ("sdh lama tdk ada yg dtg", "sudah lama tidak ada yang datang"),
        ("gk ada lampu dkt rmh bpk", "tidak ada lampu dekat rumah bapak"),
        ("udh 2 minggu blm diangkut", "sudah 2 minggu belum diangkut"),
        # Ketapang Malay
        ("aek dak ngalir", "air tidak mengalir"),
        ("aik keruh, idak boleh diminum", "air keruh tidak boleh diminum"),
        ("sarap numpuk di parit", "sampah menumpuk di parit"),
        ("paip bocor", "pipa bocor"),
        ("ubat habis di pustu", "obat habis di pustu"),
        ("jembatan rosak", "jembatan rusak"),
        ("kamek ndak dapat bantuan", "kami tidak dapat bantuan"),
        # elongation and reduplication
        ("tolonggggg pakkk", "tolong bapak"),
        ("parahhhh bangetttt", "parah banget"),
        ("jalan belubang2", "jalan berlubang berlubang"),
        ("anak2 takut", "anak anak takut"),
        ("lubang-lubang besar", "lubang lubang besar"),
        # emoji carry sentiment, others vanish; URLs and mentions vanish
        ("pelayanan lambat 😡😡", "pelayanan lambat marah marah"),
        ("terima kasih 🙏👍", "terima kasih mohon bagus"),
        ("lihat https://example.com/x @dinas", "lihat"),
    ],
)
def test_normalize_table(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "token",
    ["kk", "sma", "smp", "tk", "pppk", "ktp", "pln", "sp"],
)
def test_domain_abbreviations_are_not_rewritten(token):
    # the general colloquial lexicon maps e.g. kk -> kakak, sma -> sama; here they mean
    # kartu keluarga and a school
    assert tokens(f"urus {token} sulit") == ["urus", token, "sulit"]


def test_simpang_2_keeps_its_number():
    # "simpang 2" is the kecamatan Simpang Dua, not a reduplication
    assert normalize("di simpang 2") == "di simpang 2"


@pytest.mark.parametrize(
    "text",
    ["halo", "Assalamualaikum min", "Selamat pagi pak admin 🙏", "p", "permisi, mau lapor",
     "terima kasih"],
)
def test_greetings_only(text):
    assert is_greeting_only(text)


@pytest.mark.parametrize("text", ["halo min, jalan rusak", "selamat pagi, sampah numpuk"])
def test_greeting_with_content_is_not_greeting_only(text):
    assert not is_greeting_only(text)


@pytest.mark.parametrize(
    "token, root",
    [
        ("berlubang", "lubang"), ("kebanjiran", "banjir"), ("tersumbat", "sumbat"),
        ("menumpuk", "tumpuk"), ("pemadaman", "padam"), ("sampahnya", "sampah"),
        ("keluhkan", "keluh"), ("penerangan", "terang"), ("diperbaiki", "perbaiki"),
    ],
)
def test_forms_include_the_root(token, root):
    assert root in forms(token)
    assert token in forms(token)
