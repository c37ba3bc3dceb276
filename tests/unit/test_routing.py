"""Routing: which OPD answers a complaint, why (topic), how sure, and where."""
from pathlib import Path
import shutil

import pytest

from functions.model import OUTSIDE, TRIAGE
from functions.routing import (RULE_COLUMNS, RuleSource, load_rules, route, rules_from_rows,
                               rules_to_rows)
from functions.schema import SCHEMA_DIR


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.mark.parametrize(
    "text, opd",
    [
        # the obvious cases
        ("jalan rusak berlubang", "PUTR"),
        ("sampah numpuk", "DLH"),
        ("KTP belum jadi", "DISDUKCAPIL"),
        ("lampu jalan mati", "DISHUB"),
        ("listrik padam PLN", OUTSIDE),
        # slang and abbreviations
        ("jln dpn sklh ancur bgt, tlg diaspal", "PUTR"),
        ("sampah dkt rmh gk diangkut2 udh seminggu", "DLH"),
        ("KK sy salah nama, udh 2x ke capil blm dibenerin", "DISDUKCAPIL"),
        ("PJU di gg melati mati smua, gelappp", "DISHUB"),
        ("knp bansos sy gk cair2 pdhl terdaftar dtks", "DINSOS"),
        ("pkl jualan di trotoar, org jalan kaki susah lewat", "SATPOLPP"),
        # Ketapang Malay
        ("aek pdam dak ngalir dari kemaren", "PDAM"),
        ("paip aek bocor di simpang, aeknye terbuang", "PDAM"),
        ("sarap di parit depan rumah kamek idak diangkut", "DLH"),
        ("ubat di puskesmas habis, kamek disuruh beli sendiri", "DINKES"),
        ("jembatan kayu rosak, budak sekolah takut lewat", "PUTR"),
        # each OPD in its own words
        ("Mohon perbaikan drainase di kompleks kami, tiap hujan air meluap ke jalan", "PUTR"),
        ("Ada rumah janda tua yang hampir roboh, mohon dibantu program bedah rumah", "PERKIM"),
        ("Limbah cair dari pabrik karet dibuang ke sungai, baunya menyengat", "DLH"),
        ("Dokter di puskesmas jarang ada, pasien dilayani perawat saja", "DINKES"),
        ("Pelayanan IGD RSUD lambat, pasien kecelakaan dibiarkan menunggu", "RSUD"),
        ("Akta kelahiran anak saya belum selesai sejak bulan lalu", "DISDUKCAPIL"),
        ("Ruang kelas SD kami bocor kalau hujan, murid belajar di teras", "DISDIK"),
        ("Bantuan PKH salah sasaran, yang kaya dapat yang miskin tidak", "DINSOS"),
        ("Ada kekerasan terhadap anak di rumah tetangga, mohon pendampingan", "DP3A"),
        ("Lampu lalu lintas di simpang empat kedip kuning terus", "DISHUB"),
        ("Banyak sapi lepas berkeliaran di jalan raya malam hari", "SATPOLPP"),
        ("Desa kami kebanjiran, air masuk rumah setinggi pinggang", "BPBD"),
        ("Pohon besar tumbang menimpa rumah warga setelah hujan angin", "BPBD"),
        ("Kebakaran rumah di gang sempit, mobil damkar susah masuk", "DAMKAR"),
        ("Tagihan PDAM saya naik padahal air sering mati", "PDAM"),
        ("Gas elpiji 3 kg susah dicari dan harganya mahal di pengecer", "DISPERINDAGKOP"),
        ("Urus izin usaha lewat OSS tidak selesai-selesai", "DPMPTSP"),
        ("Di dusun kami tidak ada sinyal sama sekali, mohon dibangun tower", "DISKOMINFO"),
        ("Gaji karyawan toko di bawah UMK dan lembur tidak dibayar", "DISNAKERTRANS"),
        ("Pupuk subsidi di kios tani habis terus, petani kesulitan", "DISTANAKBUN"),
        ("Nelayan kecil terganggu kapal pukat harimau yang masuk ke perairan dekat pantai",
         "DKPKP"),
        ("Kepala desa tidak pernah melaporkan penggunaan dana desa", "DPMD"),
        ("Tempat wisata pantai kotor dan fasilitasnya rusak", "DISPARBUD"),
        ("Lapangan sepak bola kampung rusak, pemuda tidak bisa latihan", "DISPORA"),
        ("SPPT PBB saya tidak sesuai luas tanah", "BPKAD"),
        ("Status PPPK saya belum jelas padahal sudah lulus seleksi", "BKPSDM"),
        ("Ada ormas yang memaksa warga membayar iuran keamanan", "KESBANGPOL"),
        ("Oknum pegawai meminta uang pelicin untuk mempercepat berkas", "INSPEKTORAT"),
        ("Kantor camat sering tutup sebelum jam pelayanan selesai", "KECAMATAN"),
    ],
)
def test_routes_to_the_responsible_opd(rules, text, opd):
    assert route(text, rules).opd == opd


@pytest.mark.parametrize(
    "text, reason_word",
    [
        ("listrik padam PLN", "PLN"),
        ("mati lampu tiap malam, token listrik juga mahal", "PLN"),
        ("sertifikat tanah program PTSL belum keluar", "BPN"),
        ("motor saya dicuri di depan rumah", "Kepolisian"),
        ("jalan nasional trans kalimantan berlubang parah", "nasional"),
        ("antrean solar di SPBU mengular sampai malam", "SPBU"),
    ],
)
def test_outside_authority_goes_to_luar_pemda_with_the_reason(rules, text, reason_word):
    r = route(text, rules)
    assert r.opd == OUTSIDE
    assert reason_word in r.topic
    assert "bukan kewenangan" in r.topic


def test_street_light_is_dishub_but_house_power_is_pln(rules):
    assert route("lampu jalan di gang kami mati", rules).opd == "DISHUB"
    assert route("listrik di rumah kami mati dari siang", rules).opd == OUTSIDE


def test_national_road_is_not_putr(rules):
    assert route("jalan provinsi menuju kecamatan rusak berat", rules).opd == OUTSIDE
    assert route("jalan desa menuju kecamatan rusak berat", rules).opd == "PUTR"


@pytest.mark.parametrize(
    "text",
    ["halo", "Assalamualaikum min", "selamat pagi pak", "p", "test", "tolong dibantu pak",
     "saya mau mengadu", "", "   ", "🙏🙏", "Kenapa belum ada kabar?"],
)
def test_greetings_and_vague_messages_go_to_triage(rules, text):
    r = route(text, rules)
    assert r.opd == TRIAGE
    assert r.topic  # staff still see a reason


@pytest.mark.parametrize(
    "text, opd",
    [
        # the dominant topic wins when a complaint names several
        ("Jalan di depan pasar rusak parah dan berlubang, ditambah sampah pasar sedikit", "PUTR"),
        ("Sampah menumpuk di TPS dan bau busuk, lalat di mana-mana, jalan ke sana juga jelek",
         "DLH"),
        ("Air PDAM mati tiga hari, pipa induk bocor, lampu jalan juga mati", "PDAM"),
    ],
)
def test_multi_topic_picks_the_dominant_one(rules, text, opd):
    assert route(text, rules).opd == opd


def test_equal_evidence_for_two_opds_goes_to_triage_naming_both(rules):
    r = route("sampah menumpuk dan lampu jalan mati", rules)
    assert r.opd == TRIAGE
    assert "Sampah" in r.topic and "Lampu jalan" in r.topic


def test_topic_tells_staff_why(rules):
    r = route("jalan rusak berlubang", rules)
    assert r.topic == "Jalan rusak"
    assert route("KTP belum jadi", rules).topic == "KTP-el"


def test_confidence_is_higher_for_clear_cases(rules):
    clear = route("jalan aspal rusak berlubang parah, mohon diperbaiki", rules)
    vague = route("jalan", rules)
    assert 0.0 <= vague.confidence < clear.confidence <= 1.0
    assert route("halo", rules).confidence == 0.0


@pytest.mark.parametrize(
    "text, location",
    [
        ("jalan rusak di Kecamatan Sandai", "Kecamatan Sandai"),
        ("banjir di sei melayu", "Kecamatan Sungai Melayu Rayak"),
        ("banjir di sungai melayu rayak", "Kecamatan Sungai Melayu Rayak"),
        ("lampu mati di sui laur", "Kecamatan Sungai Laur"),
        ("sampah di ketapang kota", "Kecamatan Delta Pawan"),
        ("sampah di kota ketapang", "Kecamatan Delta Pawan"),
        ("aek pdam mati di aek upas", "Kecamatan Air Upas"),
        ("jalan rusak di Simpang 2", "Kecamatan Simpang Dua"),
        ("Jalan di Desa Sungai Awan Kiri rusak", "Desa Sungai Awan Kiri"),
        ("jln di ds sei awan kanan kec muara pawan rusak",
         "Desa Sungai Awan Kanan, Kecamatan Muara Pawan"),
        ("Jembatan di Desa Sei Besar, Kecamatan Matan Hilir Selatan putus",
         "Desa Sungai Besar, Kecamatan Matan Hilir Selatan"),
        ("jalan rusak parah", ""),
        ("jalan di desa kami rusak", ""),
    ],
)
def test_location_is_found(rules, text, location):
    assert route(text, rules).location == location


# --- the Rute tab ----------------------------------------------------------------------------


def test_rules_round_trip_through_rute_rows(rules):
    rows = rules_to_rows(rules)
    assert {k for k, _ in RULE_COLUMNS} == set(rows[0])
    again, problems = rules_from_rows(rows)
    assert problems == []
    assert rules_to_rows(again) == rows
    assert route("jalan rusak berlubang", again) == route("jalan rusak berlubang", rules)


def test_admin_rows_route_with_weights_phrases_and_exclusions():
    rows = [
        {"opd": "DISHUB", "topic": "Kapal penyeberangan", "keywords": "speedboat:3, kapal & telat:2",
         "exclude": "kapal nelayan"},
        {"opd": "DKPKP", "topic": "Nelayan", "keywords": "nelayan:3", "exclude": ""},
    ]
    rules, problems = rules_from_rows(rows)
    assert problems == []
    assert route("speedboat ke pulau telat terus", rules).topic == "Kapal penyeberangan"
    assert route("kapal sering telat berangkat", rules).opd == "DISHUB"
    assert route("kapal nelayan telat pulang", rules).opd == "DKPKP"


def test_broken_rute_rows_are_reported_and_skipped():
    rows = [
        {"opd": "PUTR", "topic": "Jalan rusak", "keywords": "jalan & rusak:3", "exclude": ""},
        {"opd": "DINAS_X", "topic": "Apa saja", "keywords": "apa:3", "exclude": ""},
        {"opd": "DLH", "topic": "", "keywords": "sampah:3", "exclude": ""},
        {"opd": "DLH", "topic": "Sampah", "keywords": "sampah:banyak, bau:2", "exclude": ""},
        {"opd": "PDAM", "topic": "Air", "keywords": "", "exclude": ""},
        {"opd": "", "topic": "", "keywords": "", "exclude": ""},  # empty row: ignored silently
    ]
    rules, problems = rules_from_rows(rows)
    assert [r.topic for r in rules.rules] == ["Jalan rusak", "Sampah"]
    text = "\n".join(problems)
    assert "baris 3" in text and "DINAS_X" in text
    assert "baris 4" in text and "topik" in text
    assert "baris 5" in text and "bobot" in text
    assert "baris 6" in text
    assert "baris 7" not in text
    # the valid keyword of the half-broken row still works
    assert route("bau busuk dari tps", rules).opd == "DLH"


def test_opd_keys_in_rows_are_case_insensitive():
    rules, problems = rules_from_rows(
        [{"opd": " putr ", "topic": "Jalan", "keywords": "jalan:3", "exclude": ""}])
    assert problems == [] and rules.rules[0].opd == "PUTR"


def test_triage_cannot_be_a_routing_target():
    _, problems = rules_from_rows(
        [{"opd": "TRIASE", "topic": "x", "keywords": "jalan:3", "exclude": ""}])
    assert problems


def test_a_broken_shipped_rule_file_fails_loudly(tmp_path: Path):
    for f in SCHEMA_DIR.glob("*.toml"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "routing.toml").write_text(
        '[[rule]]\nopd = "NOPE"\ntopic = "x"\nkeywords = "jalan:3"\nexclude = ""\n',
        encoding="utf-8")
    with pytest.raises(ValueError, match="NOPE"):
        load_rules(tmp_path)


@pytest.mark.parametrize(
    "keyword, text, hit",
    [
        ("lampu jalan:3", "lampu jalan mati", True),
        ("lampu jalan:3", "jalan tanpa lampu", False),  # a phrase needs its words in order
        ("jalan & rusak:3", "rusak sekali jalan kami", True),  # near: any order
        ("jalan & rusak:3", "jalan " + "x " * 12 + "rusak", False),  # too far apart
        ("lubang*:3", "lubangnya dalam", True),
        ("camat!:3", "kantor kecamatan", False),  # exact word only
        ("camat!:3", "pak camat tidak ada", True),
        ("banjir:3", "rumah kami kebanjiran", True),  # affixed forms match the root
    ],
)
def test_keyword_syntax(keyword, text, hit):
    rules, problems = rules_from_rows(
        [{"opd": "PUTR", "topic": "T", "keywords": keyword, "exclude": ""}])
    assert problems == []
    assert (route(text, rules).opd == "PUTR") is hit


# --- the Rute tab through a short cache ---------------------------------------------------------


class FakeRuteTab:
    """Stands in for the store adapter's reader of the Rute tab."""

    def __init__(self, rows):
        self.rows = rows
        self.reads = 0
        self.fail = False

    def __call__(self):
        self.reads += 1
        if self.fail:
            raise ConnectionError("sheets down")
        return [dict(r) for r in self.rows]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_rule_source_reads_the_tab_once_per_ttl_and_sees_edits():
    tab = FakeRuteTab([{"opd": "DLH", "topic": "Sampah", "keywords": "sampah:3", "exclude": ""}])
    clock, reports = Clock(), []
    source = RuleSource(tab, ttl_seconds=300, clock=clock, report=reports.append)
    assert route("sampah numpuk", source.get()).opd == "DLH"
    assert route("sampah numpuk", source.get()).opd == "DLH"
    assert tab.reads == 1
    # an admin moves the topic to another OPD in the sheet
    tab.rows = [{"opd": "DINKES", "topic": "Sampah medis", "keywords": "sampah:3", "exclude": ""}]
    clock.now = 299
    assert route("sampah numpuk", source.get()).opd == "DLH"
    clock.now = 301
    assert route("sampah numpuk", source.get()).opd == "DINKES"
    assert reports == []


def test_rule_source_reports_broken_rows_once_and_keeps_the_good_ones():
    tab = FakeRuteTab([
        {"opd": "DLH", "topic": "Sampah", "keywords": "sampah:3", "exclude": ""},
        {"opd": "DINAS_X", "topic": "x", "keywords": "x:3", "exclude": ""},
    ])
    clock, reports = Clock(), []
    source = RuleSource(tab, ttl_seconds=10, clock=clock, report=reports.append)
    assert route("sampah numpuk", source.get()).opd == "DLH"
    clock.now = 100
    source.get()
    assert len(reports) == 1 and "DINAS_X" in reports[0][0]
    assert source.problems and "DINAS_X" in source.problems[0]


def test_rule_source_keeps_routing_when_the_tab_is_unreadable_or_empty():
    tab = FakeRuteTab([{"opd": "DINKES", "topic": "Sampah medis", "keywords": "sampah:3",
                        "exclude": ""}])
    clock, reports = Clock(), []
    source = RuleSource(tab, ttl_seconds=10, clock=clock, report=reports.append)
    assert route("sampah numpuk", source.get()).opd == "DINKES"
    tab.fail = True
    clock.now = 20
    assert route("sampah numpuk", source.get()).opd == "DINKES"  # last good rules
    assert "Rute" in reports[-1][0]
    # never read successfully: the shipped rules
    fresh = RuleSource(tab, clock=clock, report=reports.append)
    assert route("lampu jalan mati", fresh.get()).opd == "DISHUB"
    # an emptied tab does not stop routing either
    tab.fail, tab.rows = False, []
    clock.now = 40
    assert route("lampu jalan mati", source.get()).opd == "DISHUB"
    assert "bawaan" in source.problems[-1]


@pytest.mark.parametrize(
    "text, opd",
    [
        # trees: care of living trees (pruning, cutting before they fall) is DLH; a fallen tree is BPBD
        ("dahan pohon trembesi di simpang sudah menjulur ke kabel, minta dipangkas", "DLH"),
        ("tolong tebang pohon yang rawan tumbang di samping balai desa", "DLH"),
        ("pohon tumbang menimpa dua rumah warga semalam", "BPBD"),
        # drainage: water standing over a blocked drain is PUTR's; a river or sea coming in is BPBD's
        ("selokan di gang kami mampet, tiap hujan air tergenang di jalan", "PUTR"),
        ("banjir tiap hujan gara-gara got tersumbat sampah", "PUTR"),
        ("sungai meluap, rumah warga terendam dan sebagian mengungsi", "BPBD"),
        # NIK / KK named in a social-assistance complaint: the matter is the assistance
        ("bantuan PKH ibu saya tidak cair, padahal NIK dan KK sudah dicek benar", "DINSOS"),
        ("NIK saya dobel di data kependudukan, tolong diperbaiki", "DISDUKCAPIL"),
        # health: the hospital's wards and emergency room vs the puskesmas
        ("keluarga kami lama menunggu di UGD rumah sakit daerah tanpa ditangani", "RSUD"),
        ("ambulans puskesmas tidak bisa dipinjam warga yang darurat", "DINKES"),
        # DISHUB: street lights, parking, traffic
        ("lampu di tiang pinggir jalan poros mati sudah dua minggu", "DISHUB"),
        ("kendaraan parkir di badan jalan depan pasar bikin sempit", "DISHUB"),
        ("kemacetan parah tiap sore di simpang empat, tidak ada pengaturan lalu lintas", "DISHUB"),
    ],
)
def test_neighbouring_opds_are_kept_apart(rules, text, opd):
    assert route(text, rules).opd == opd
