from datetime import datetime
import re

import pytest

from functions.tickets import CROCKFORD, make_ticket, parse_ticket, ticket_pattern
from tests.fakes.clock import WIB

DAY = datetime(2026, 11, 27, 23, 30, tzinfo=WIB)


def test_ticket_has_prefix_wib_date_and_crockford_suffix():
    ticket = make_ticket("KMC", DAY)
    assert re.fullmatch(r"KMC-261127-[0-9A-HJKMNP-TV-Z]{5}", ticket)
    assert all(ch in CROCKFORD for ch in ticket.split("-")[2])


def test_same_source_id_gives_same_ticket_so_redelivery_is_recognised():
    assert make_ticket("KMC", DAY, "wamid.HBgLNjI4MTM=") == make_ticket("KMC", DAY, "wamid.HBgLNjI4MTM=")
    assert make_ticket("KMC", DAY, "wamid.A") != make_ticket("KMC", DAY, "wamid.B")


def test_without_source_id_tickets_differ():
    assert len({make_ticket("KMC", DAY) for _ in range(200)}) == 200


@pytest.mark.parametrize("typed", [
    "KMC-261127-AB3X9", "kmc-261127-ab3x9", "KMC261127AB3X9", "kmc 261127 ab3x9", " KMC-261127-AB3X9 ",
    "KMC_261127_AB3X9", "kmc-261127-aB3x9",
])
def test_citizens_may_type_a_ticket_loosely(typed):
    assert parse_ticket(typed, "KMC") == "KMC-261127-AB3X9"


def test_ambiguous_letters_are_read_as_crockford_digits():
    assert parse_ticket("KMC-261127-ABOXI", "KMC") == "KMC-261127-AB0X1"


@pytest.mark.parametrize("typed", ["", "halo", "KMC-2611-AB3X9", "ABC-261127-AB3X9", "KMC-261127-AB", "KMC-261127-AB3X9ZZZ"])
def test_non_tickets_are_rejected(typed):
    assert parse_ticket(typed, "KMC") is None


def test_ticket_found_inside_a_message():
    assert ticket_pattern("KMC").search("cek status kmc 261127 ab3x9 ya min").group(0).lower() == "kmc 261127 ab3x9"
