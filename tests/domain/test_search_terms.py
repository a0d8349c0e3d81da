"""How a search box's text becomes terms."""

from __future__ import annotations

import pytest

from ticketing.domain.search_terms import (
    SEARCH_MAX_CHARS,
    address_term,
    leading_term,
    leading_terms,
    search_terms,
)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("refund november", ["refund", "november"]),
        ('"card renewal" failed', ["card renewal", "failed"]),
        ('"card   renewal"', ["card renewal"]),  # a phrase's spaces are one
        ('"refund please', ["refund please"]),  # never closed: a phrase to the end
        ('refund "', ["refund"]),  # a lone quote is no term
        ('refund please"', ["refund", "please"]),
        ('a"b"c', ["a", "b", "c"]),
        ('""', []),
        ("   ", []),
        ("Refund refund REFUND", ["Refund"]),  # the same word once, whatever its case
        ("one two three four five six", ["one", "two", "three", "four", "five"]),  # at most five
        ("#42", ["#42"]),
    ],
)
def test_search_terms(text: str, terms: list[str]) -> None:
    assert search_terms(text) == terms


def test_a_phrase_cut_at_the_length_limit_is_still_a_phrase() -> None:
    text = "x" * (SEARCH_MAX_CHARS - 8) + ' "card renewal failed"'
    assert search_terms(text)[-1] == "card r"  # the cut falls inside the phrase, which still counts


def test_leading_terms_need_three_characters_in_a_row_besides_wildcards() -> None:
    assert leading_terms(["to", "invoice", "4711", "a%b_c"]) == ["invoice", "4711"]
    assert leading_term(["ab", "x%y"]) is None
    assert leading_term([]) is None


@pytest.mark.parametrize(
    ("term", "address"),
    [("ann@acme.com", "ann@acme.com"), ("Ann@Acme.COM", "ann@acme.com"), ("john_doe@mail.co.uk", "john_doe@mail.co.uk"),
     ("ann+billing@eu.acme.com", "ann+billing@eu.acme.com"),
     # As pasted from a mail client or a sentence.
     ("<ann@acme.com>", "ann@acme.com"), ("(Ann@acme.com),", "ann@acme.com"), ("mailto:ann@acme.com", "ann@acme.com"),
     ("ann@acme.com.", "ann@acme.com"), ("'ann@acme.com';", "ann@acme.com"),
     # Parts of an address, and what only looks like one, are text to look for.
     ("@acme.com", None), ("ann@acme", None), ("a@b@c.com", None), ("%@acme.com", None), ("ann@acme.", None),
     ("ann,bob@acme.com", None), ("invoice", None)],
)  # fmt: skip
def test_a_whole_address_is_an_address_term(term: str, address: str | None) -> None:
    assert address_term(term) == address


def test_a_pasted_address_becomes_the_bare_address() -> None:
    assert search_terms("(Jane@Acme.example), refund") == ["jane@acme.example", "refund"]
    assert search_terms("<jane@acme.example> jane@acme.example") == ["jane@acme.example"]  # the same term once
