"""What a search box's text asks for: its terms, each to be found somewhere in a ticket.

"refund november" finds the tickets that mention both words, wherever each one is (the subject, any message, the
contact, the customer), as agents expect from a help desk; searched as one string it found only the tickets where
the two words stand side by side. Double quotes keep a phrase together: `"card renewal" failed`.

A term that is a whole email address names a person: it finds the tickets of the contact with that address (not of
joann@acme.com for ann@acme.com, as a substring would) and the subjects and messages that mention it (`address_term`).
"""

from __future__ import annotations

import re

SEARCH_MAX_CHARS = 100  # of the box's text: longer input is cut, not refused
SEARCH_MAX_TERMS = 5  # more are ignored: each one adds a condition to every candidate ticket
SEARCH_MIN_RUN = 3  # a trigram index needs 3 characters in a row (besides LIKE's wildcards)

# A phrase runs from a double quote to the next one, or to the end when it is never closed (a query cut at
# SEARCH_MAX_CHARS, a forgotten quote); a word is anything else between spaces and quotes. A lone quote is no term.
_TERM = re.compile(r'"([^"]*)(?:"|$)|([^\s"]+)')


def search_terms(text: str) -> list[str]:
    """The distinct terms of a search text, in order: words, or phrases in double quotes; at most SEARCH_MAX_TERMS
    (the rest are not looked for)."""
    terms: list[str] = []
    for phrase, word in _TERM.findall(text.strip()[:SEARCH_MAX_CHARS]):
        term = " ".join((phrase or word).split())
        term = address_term(term) or term  # a pasted "<ann@acme.com>," is the address
        if term and term.lower() not in (t.lower() for t in terms):
            terms.append(term)
    return terms[:SEARCH_MAX_TERMS]


def longest_run(term: str) -> int:
    """Characters in a row besides LIKE's wildcards (% and _), which no index can look up."""
    return max(len(run) for run in re.split(r"[%_]", term))


def leading_terms(terms: list[str]) -> list[str]:
    """The terms an index can look up (SEARCH_MIN_RUN characters in a row), longest run first: the likeliest to have
    few matches. The others are checked on the tickets one of these finds. None at all: such a search would read
    every message body."""
    return sorted((t for t in terms if longest_run(t) >= SEARCH_MIN_RUN), key=longest_run, reverse=True)


def leading_term(terms: list[str]) -> str | None:
    """The first of `leading_terms`: the one looked up first, None when no term can be."""
    leads = leading_terms(terms)
    return leads[0] if leads else None


# A whole address: something@domain.tld, without LIKE's % (an "_" in an address is taken as written); what often
# comes with a pasted one around it: brackets, quotes, a comma, a full stop, "mailto:".
_ADDRESS = re.compile(r"[^\s@%<>()\[\],;:\"]+@[^\s@%<>()\[\],;:\"]+\.[^\s@%<>()\[\],;:\".]+")
_AROUND_ADDRESS = "()[]<>{},;:.'\""


def address_term(term: str) -> str | None:
    """The email address a term is, bare and lowercased as contacts' addresses are stored; None for anything else
    (a part of an address such as "@acme.com" or "ann@acme" is looked for as text, in contacts' addresses too)."""
    bare = term.strip(_AROUND_ADDRESS)
    if bare[:7].lower() == "mailto:":
        bare = bare[7:]
    return bare.lower() if _ADDRESS.fullmatch(bare) else None


def like_pattern(term: str) -> str:
    return f"%{term}%"
