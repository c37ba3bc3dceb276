#!/usr/bin/env python
"""Simulated KMC history for developing routing that learns (issue 18). SMOKE-TEST DATA:
we wrote both these templates and the rules, so figures measured on it are not quality measures.

It imitates what the workbook would teach: complaints written the way citizens write (informal
Indonesian, WhatsApp abbreviations, Ketapang Malay, typos), labelled with the tab where the case
was finally handled, including the ways this regency divides work that hand-written rules cannot
know (village water supply by PUTR, pruning by DLH, gang roads in housing estates by PERKIM ...),
vague messages, a new programme appearing mid-year, and a few cases closed in the wrong tab.

    python scripts/make_routing_devset.py [--seed 18] [--months 15] [--per-month 400] [--test-months 3]

writes tests/data/routing-sim-history.csv (oldest first) and tests/data/routing-sim-test.csv
(the months after), columns `text,opd,month`.
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLACES = ["Sungai Awan Kiri", "Kalinilam", "Sukaharja", "Tuan Tuan", "Payak Kumang", "Suka Bangun",
          "Mulia Baru", "Sampit", "Kauman", "Kantor", "Sungai Melayu", "Sei Kinjil", "Pesaguan",
          "Marau", "Sandai", "Tumbang Titi", "Kendawangan", "Air Upas", "Manis Mata", "Nanga Tayap",
          "Jl. Gajah Mada", "Jl. Merdeka", "Jl. R. Suprapto", "Jl. Pelang", "Jl. Tanjungpura",
          "gang Karya", "komplek Pawan Permai", "RT 05 RW 02", "dusun Sei Bulan", "desa Sungai Besar"]
OPENERS = ["", "", "", "assalamualaikum ", "pagi min, ", "min ", "pak bupati yth, ", "lapor min ",
           "selamat siang, ", "maaf mengganggu, ", "izin lapor, ", "tolong dibantu min, ", "halo kmc, "]
CLOSERS = ["", "", "", " mohon ditindaklanjuti", " tolong segera", " terima kasih", " mksh min",
           " sudah lapor ke desa tp tidak ada tanggapan", " warga sudah resah", " 🙏", " tlg diviralkan",
           " kami tunggu tindakannya", " sudah berbulan bulan begini"]

# (opd, weight per month, [phrasings]); {p} = a place. Several kinds per OPD, including the
# neighbours rules confuse and the local division of work.
KINDS: list[tuple[str, float, list[str]]] = [
    ("PUTR", 9, ["jalan di {p} rusak parah banyak lubang", "jln ke {p} hancur kalau hujan jadi kubangan",
                 "aspal jalan {p} mengelupas baru setahun dibangun", "jalan poros {p} becek berlumpur tidak bisa dilewati motor",
                 "jembatan kayu di {p} lapuk sudah miring", "gertak di {p} patah anak sekolah susah lewat",
                 "jalan menuju {p} putus kena longsor kecil, tolong diperbaiki", "semenisasi jalan {p} sudah retak retak"]),
    ("PUTR", 5, ["got di depan rumah kami di {p} tersumbat, tiap hujan air tergenang sampai lutut",
                 "saluran air di {p} dangkal penuh lumpur jadi genangan di jalan",
                 "drainase {p} mampet, air hujan tidak mengalir, halaman tergenang",
                 "parit sepanjang {p} tumpat sampah, air meluber ke jalan kalau hujan deras",
                 "gorong gorong di {p} ambles dan tersumbat, air menggenang berhari hari",
                 "genangan air di simpang {p} tidak surut surut karena saluran tidak ada"]),
    ("PUTR", 3, ["air bersih di desa {p} tidak ada, sumur bor pamsimas rusak sudah 2 bulan",
                 "warga {p} krisis air bersih, pipa pamsimas putus tidak diperbaiki",
                 "sarana air bersih desa {p} mangkrak, tandon bocor", "sumur bor bantuan di {p} tidak berfungsi lagi",
                 "spam desa {p} mati, warga ambil air di sungai"]),
    ("PUTR", 2, ["irigasi sawah di {p} jebol, air tidak sampai ke sawah", "pintu air di {p} rusak sawah kekeringan",
                 "tanggul di {p} bocor air masuk ke kebun warga"]),
    ("PERKIM", 3, ["rumah nenek saya di {p} sudah reyot hampir roboh, mohon bantuan bedah rumah",
                   "kapan program rtlh untuk {p} pak, rumah kami dinding lapuk",
                   "makam umum di {p} sudah penuh, warga bingung mau memakamkan di mana",
                   "jalan gang di perumahan {p} rusak belum diserahkan developer",
                   "jalan lingkungan komplek {p} berlubang, kata developer sudah urusan pemda",
                   "lampu jalan di dalam komplek perumahan {p} mati semua"]),
    ("DLH", 8, ["sampah di tps {p} menumpuk sudah seminggu tidak diangkut, bau sekali",
                "truk sampah tidak lewat lagi di {p}, sampah di depan rumah numpuk",
                "orang buang sampah sembarangan di pinggir jalan {p}", "sarap di pasar {p} berserakan, lalat banyak",
                "bak sampah di {p} penuh dan rusak", "tumpukan sampah di {p} dibakar, asapnya masuk rumah"]),
    ("DLH", 3, ["limbah pabrik sawit mencemari sungai di {p}, ikan pada mati", "air sungai di {p} hitam dan bau sejak pabrik buang limbah",
                "debu dari pabrik di {p} bikin warga sesak", "bengkel di {p} buang oli ke parit"]),
    ("DLH", 4, ["pohon di pinggir jalan {p} sudah terlalu rimbun, mohon dipangkas sebelum tumbang",
                "dahan pohon di {p} menjulur kena kabel listrik, tolong dipotong",
                "mohon pemangkasan pohon besar di depan sekolah {p}, takut roboh kena angin",
                "pohon angsana di {p} rawan tumbang, rantingnya sering patah, minta ditebang",
                "ranting pohon di taman {p} patah patah menghalangi trotoar",
                "tolong pangkas pohon mahoni di {p}, daunnya menutup lampu jalan"]),
    ("BPBD", 5, ["banjir di {p} air sungai meluap masuk rumah warga setinggi pinggang",
                 "{p} kebanjiran lagi, warga mengungsi ke masjid, butuh perahu",
                 "rumah kami di {p} terendam banjir sejak semalam", "banjir rob di {p} air pasang masuk rumah",
                 "luapan sungai pawan merendam desa {p}, anak anak tidak bisa sekolah"]),
    ("BPBD", 3, ["pohon besar tumbang menimpa rumah warga di {p} saat angin kencang",
                 "pohon tumbang melintang di jalan {p}, jalan tertutup total", "angin puting beliung di {p} merusak atap rumah warga",
                 "ada pohon roboh menutup jalan ke {p} setelah hujan deras tadi malam"]),
    ("BPBD", 3, ["kebakaran lahan gambut di {p} asapnya tebal sekali", "ada titik api di hutan dekat {p}, tolong dipadamkan",
                 "karhutla di {p} makin luas", "tebing sungai di {p} longsor rumah warga terancam", "abrasi pantai di {p} makin parah"]),
    ("DAMKAR", 2, ["rumah warga di {p} terbakar, pemadam lama datang", "ada sarang tawon besar di rumah kami {p}, tolong dievakuasi",
                   "ular masuk rumah di {p} minta bantuan damkar", "hidran di {p} tidak berfungsi"]),
    ("PDAM", 6, ["air pdam di {p} tidak mengalir sudah 3 hari", "aek pdam di {p} keruh kuning dak bisa dipakai",
                 "pipa pdam bocor di {p} air terbuang percuma", "tagihan air pdam saya naik padahal air jarang keluar",
                 "air pdam mati terus di {p} tiap pagi", "meteran air di rumah {p} rusak tagihan tidak wajar"]),
    ("DINKES", 4, ["pelayanan puskesmas {p} lambat, petugas datang siang", "obat di puskesmas {p} kosong disuruh beli di luar",
                   "bidan desa di {p} jarang ada di tempat", "posyandu di {p} tidak jalan lagi",
                   "ambulans puskesmas {p} tidak bisa dipakai warga yang darurat", "kasus dbd di {p} banyak, mohon fogging"]),
    ("DINKES", 2, ["bpjs saya tidak aktif padahal pbi pemerintah", "kartu kis warga {p} tidak bisa dipakai berobat",
                   "anak anak di {p} banyak yang stunting, ada programnya?"]),
    ("RSUD", 4, ["pelayanan igd rsud agoesdjam lama, pasien dibiarkan", "antrian poli di rumah sakit daerah panjang sekali dari subuh",
                 "perawat di ruang rawat inap rsud judes", "kamar pasien rsud kotor ac mati", "dokter spesialis di rsud jarang datang",
                 "keluarga pasien disuruh beli obat sendiri di rsud"]),
    ("DISDUKCAPIL", 6, ["ktp saya belum jadi sudah 3 bulan katanya blanko habis", "urus kk di dukcapil lama sekali",
                        "akta kelahiran anak saya salah nama, mau ganti bagaimana", "rekam ktp el di kecamatan {p} alat rusak",
                        "nik saya ganda tidak bisa daftar apa apa", "surat pindah belum keluar sudah sebulan"]),
    ("DINSOS", 5, ["bansos pkh saya tidak cair bulan ini padahal nik sudah terdaftar",
                   "kenapa bantuan bpnt di {p} tidak tepat sasaran, orang mampu dapat",
                   "sudah masuk dtks tapi tidak pernah dapat bantuan, kk sudah diserahkan ke desa",
                   "nama di kk saya dicoret dari penerima blt, minta dicek",
                   "lansia di {p} tidak dapat bansos, nik sudah dicek katanya tidak terdaftar",
                   "data kk kami sudah benar tapi bantuan sosial tidak masuk"]),
    ("DINSOS", 2, ["ada odgj mengamuk di {p}, warga takut", "pengemis anak di lampu merah {p} makin banyak",
                   "orang terlantar tidur di emperan toko {p}"]),
    ("DP3A", 2, ["tetangga saya sering pukul istri dan anaknya di {p}", "ada anak dibawah umur mau dinikahkan di {p}",
                 "pelecehan terhadap siswi di {p}, keluarga butuh pendampingan"]),
    ("DISHUB", 5, ["lampu jalan di {p} mati semua malam gelap rawan begal", "pju di {p} sudah sebulan padam",
                   "lampu penerangan jalan di {p} kedip kedip lalu mati", "lampu merah di simpang {p} mati bikin semrawut",
                   "juru parkir liar di depan toko {p} minta bayaran", "parkir di {p} sembarangan bikin macet",
                   "truk odol lewat jalan {p} tiap hari", "rambu di tikungan {p} hilang, rawan kecelakaan"]),
    ("DISHUB", 2, ["program ketapang terang di {p} belum sampai, jalan kami gelap",
                   "kapan lampu ketapang terang dipasang di {p}"]),  # a programme that appears mid-year
    ("SATPOLPP", 3, ["pkl jualan di trotoar {p} pejalan kaki susah lewat", "warung remang remang di {p} buka sampai subuh",
                     "anjing liar berkeliaran di {p} sudah gigit anak", "sapi warga lepas berkeliaran di jalan {p}",
                     "baliho liar dipasang di pohon sepanjang {p}"]),
    ("DISPERINDAGKOP", 3, ["gas melon langka di {p} harganya 35 ribu", "harga minyak goreng di pasar {p} naik terus",
                           "los pasar {p} bocor atapnya", "pangkalan gas di {p} jual ke pengecer saja"]),
    ("DISDIK", 4, ["sekolah sd di {p} atapnya bocor murid belajar basah", "guru honorer di {p} gajinya belum dibayar 4 bulan",
                   "ppdb zonasi smp tahun ini tidak adil", "kepala sekolah di {p} minta uang komite mahal",
                   "ijazah anak saya ditahan sekolah karena belum bayar"]),
    ("DISKOMINFO", 2, ["sinyal di {p} hilang total susah internet", "blank spot di desa {p} mohon dibangun tower",
                       "website pemkab tidak bisa dibuka"]),
    ("DISTANAKBUN", 3, ["pupuk subsidi di {p} langka petani susah", "harga tbs sawit anjlok petani {p} menjerit",
                        "hama wereng serang sawah di {p}", "sapi warga {p} sakit mulut dan kuku"]),
    ("DKPKP", 1, ["nelayan di {p} tidak dapat solar subsidi", "bantuan kapal nelayan di {p} tidak merata"]),
    ("DPMD", 2, ["dana desa {p} tidak jelas penggunaannya", "kades {p} jarang di kantor desa", "bumdes {p} mangkrak"]),
    ("DISNAKERTRANS", 2, ["gaji karyawan perusahaan sawit di {p} belum dibayar 2 bulan", "di phk sepihak tanpa pesangon",
                          "lahan transmigrasi di {p} belum bersertifikat"]),
    ("KECAMATAN", 1, ["pelayanan kantor camat {p} lambat urus surat keterangan", "lurah {p} susah ditemui"]),
    ("BKPSDM", 1, ["sk pppk paruh waktu belum keluar", "asn di kantor dinas banyak keluyuran jam kerja"]),
    ("INSPEKTORAT", 1, ["ada pungli di pelayanan {p}", "oknum pegawai minta uang pelicin urus izin"]),
    ("DISPARBUD", 1, ["objek wisata pantai {p} kotor tidak terurus", "rumah adat di {p} rusak"]),
    ("DISPORA", 1, ["lapangan bola {p} rusak tidak dirawat", "gor {p} atapnya bocor"]),
    ("BPKAD", 1, ["sppt pbb saya salah luas tanah", "pajak bumi naik tinggi sekali tahun ini"]),
    ("DPMPTSP", 1, ["urus izin usaha di mpp berbelit", "nib saya belum terbit sudah lama"]),
    ("LUAR_PEMDA", 4, ["listrik pln di {p} padam tiap malam", "token listrik saya tidak masuk", "mati lampu lagi di {p} pln tolong",
                       "jalan trans kalimantan dekat {p} rusak parah", "sertifikat tanah ptsl belum jadi",
                       "ada pencurian motor di {p}, polisi lambat"]),
]
# What many messages look like: too vague for anyone to route without context; their tab is
# whichever OPD ended up answering (mostly the one whose kind dominates the place).
VAGUE = ["tolong ditindaklanjuti pak, sudah lama tidak ada respon", "kapan diperbaiki ini pak",
         "mohon perhatian pemda untuk warga {p}", "sudah lapor berkali kali tapi tidak ada hasil",
         "bagaimana ini pak bupati, warga {p} kecewa"]

# Context citizens add that names another agency's business: what trips keyword rules most.
CONTEXT = [", anak sekolah jadi susah berangkat", ", ambulans pun tidak bisa masuk", ", pedagang pasar ikut rugi",
           ", warga miskin makin susah", ", sudah lapor ke kades dan camat", ", kemarin ada yang kecelakaan",
           ", baunya seperti sampah", ", sejak banjir bulan lalu", ", lampu jalan juga gelap", ", padahal sudah bayar pajak",
           ", anak saya sampai sakit", ", pak rt sudah tanda tangan surat", ", tolong jangan pungli lagi",
           ", air hujan juga masuk rumah", ", motor saya rusak gara gara ini", ", dekat puskesmas"]

SLANG = {"tidak": ["tdk", "gak", "dak", "nggak", "ga"], "sudah": ["sdh", "udah", "dah"], "yang": ["yg"],
         "jalan": ["jln", "jl"], "tolong": ["tlg"], "karena": ["krn", "karna"], "belum": ["blm"],
         "air": ["aek", "aer"], "sampah": ["sarap"], "saya": ["sy", "aku"], "kami": ["kamek"],
         "dengan": ["dgn"], "banyak": ["byk", "bnyk"], "sekali": ["bgt", "banget"], "mohon": ["mhn"],
         "bapak": ["pak", "bpk"], "rusak": ["rosak"], "pipa": ["paip"]}


def noisy(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    out = []
    for w in words:
        if w in SLANG and rng.random() < 0.45:
            w = rng.choice(SLANG[w])
        elif len(w) > 4 and rng.random() < 0.04:  # a typo: a dropped or doubled letter
            i = rng.randrange(1, len(w) - 1)
            w = w[:i] + w[i + 1:] if rng.random() < 0.5 else w[:i] + w[i] + w[i:]
        out.append(w)
    text = " ".join(out)
    if rng.random() < 0.2:
        text = text.upper() if rng.random() < 0.2 else text.capitalize()
    return text


def generate(seed: int, months: int, per_month: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    opds = [k[0] for k in KINDS]
    rows = []
    for m in range(months):
        month = f"2026-{m + 1:02d}" if m < 12 else f"2027-{m - 11:02d}"
        weights = [w for _, w, _ in KINDS]
        for i, kind in enumerate(KINDS):
            if "ketapang terang" in kind[2][0] and m < months // 2:
                weights[i] = 0.0  # the programme starts halfway through the history
        n = rng.randint(int(per_month * 0.8), int(per_month * 1.2))
        for _ in range(n):
            p = rng.choice(PLACES)
            if rng.random() < 0.05:
                opd = rng.choice(opds)
                core = rng.choice(VAGUE)
            else:
                opd, _, phrasings = rng.choices(KINDS, weights=weights)[0]
                core = rng.choice(phrasings)
            context = rng.choice(CONTEXT) if rng.random() < 0.3 else ""
            text = rng.choice(OPENERS) + noisy(core.format(p=p) + context, rng) + rng.choice(CLOSERS)
            if rng.random() < 0.03:  # closed in the wrong tab: honest noise in any history
                opd = rng.choice(opds)
            rows.append((text.strip(), opd, month))
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--months", type=int, default=15)
    ap.add_argument("--per-month", type=int, default=400)
    ap.add_argument("--test-months", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data")
    a = ap.parse_args(argv)
    rows = generate(a.seed, a.months, a.per_month)
    cut = sorted({m for _, _, m in rows})[-a.test_months]
    for name, part in (("routing-sim-history.csv", [r for r in rows if r[2] < cut]),
                       ("routing-sim-test.csv", [r for r in rows if r[2] >= cut])):
        with open(a.out / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "opd", "month"])
            w.writerows(part)
        print(f"{a.out / name}: {len(part)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
