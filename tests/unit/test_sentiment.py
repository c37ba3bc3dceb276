"""Negative-information detection: the Sentimen column and alerts for OPD heads."""
import pytest

from functions.model import Sentiment
from functions.sentiment import classify, is_alert

NEG, NEU, POS = Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE


@pytest.mark.parametrize(
    "text, label",
    [
        # local news and social media about the regency
        ("Warga mengeluhkan pelayanan kantor desa yang sering tutup", NEG),
        ("Jalan penghubung dua kecamatan rusak parah, truk sering terperosok", NEG),
        ("Harga gas melon melambung, ibu rumah tangga menjerit", NEG),
        ("Puluhan rumah terendam banjir, warga mengungsi", NEG),
        ("Proyek gedung sekolah mangkrak, anggaran dipertanyakan", NEG),
        ("Diduga ada pungli saat pembuatan akta, warga geram", NEG),
        ("Pemkab gelar rapat koordinasi persiapan hari jadi kabupaten", NEU),
        ("Jadwal pelayanan perekaman KTP pekan depan diumumkan", NEU),
        ("BPBD imbau warga waspada potensi banjir", NEU),
        ("Warga apresiasi perbaikan jembatan yang cepat selesai", POS),
        ("Terima kasih Dishub, lampu jalan kami sudah menyala", POS),
        ("Atlet Ketapang raih medali emas di kejuaraan provinsi", POS),
        # citizens' own words, slang and Malay
        ("pelayanan capil parah bgt, 2 bulan ktp gk jadi2 😡", NEG),
        ("aek pdam dak ngalir udah 3 ari, kamek kecewa", NEG),
        ("mantap pak, jalan kamek dah mulus 👍", POS),
    ],
)
def test_labels(text, label):
    assert classify(text)[0] == label


def test_negation_turns_praise_into_complaint():
    assert classify("petugasnya ramah dan sigap")[0] == POS
    assert classify("petugasnya tidak ramah dan tidak sigap")[0] == NEG


def test_score_is_the_negativity():
    _, bad = classify("pelayanan buruk, lambat dan petugas kasar, sangat mengecewakan")
    _, good = classify("pelayanan cepat, ramah dan memuaskan, terima kasih")
    assert 0.0 <= good < 0.5 < bad <= 1.0


@pytest.mark.parametrize("text", ["", "   ", "🙂", "123"])
def test_empty_or_meaningless_text_is_neutral(text):
    assert classify(text) == (NEU, 0.0)


@pytest.mark.parametrize(
    "text, alert",
    [
        ("Dua anak tenggelam dan hanyut di sungai saat banjir", True),
        ("Video viral warga dikeroyok di depan kantor, warganet geram", True),
        ("Puluhan siswa keracunan makanan di sekolah", True),
        ("Banjir rendam ratusan rumah, warga mengungsi ke masjid", True),
        ("Dugaan pungli di pelayanan kantor desa viral di media sosial", True),
        # negative but not urgent for the head of an OPD
        ("Lampu jalan di gang kami mati sudah seminggu", False),
        ("Antrean di puskesmas lama", False),
        # grave words in good news are not alerts
        ("Tim SAR berhasil selamatkan korban banjir, terima kasih petugas", False),
        ("Pemkab gelar rapat koordinasi penanganan banjir", False),
    ],
)
def test_alerts(text, alert):
    assert is_alert(text) is alert
