"""Help-desk email ingest: raw RFC 5322 bytes in, one immutable ParsedEmail out.

Pure functions, standard library only, no I/O and no clock. ``parse_email`` never raises on broken input: whatever
can be recovered is returned and everything that was wrong is listed in ``ParsedEmail.defects``.

Speed matters (the ingest benchmark compares us with a bare ``email.message_from_bytes(raw, policy=default)``), so the
message is parsed once with the cheap ``compat32`` policy and everything after that is done by hand in one pass:
the top-level headers are scanned once, the MIME tree is walked once and every leaf payload is decoded once. The
``email.headerregistry`` machinery of ``policy.default`` (which re-parses a header on every access) is never touched.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import html as html_lib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, TypeAlias
from urllib.parse import unquote_to_bytes

__all__ = [
    "Address",
    "ParsedAttachment",
    "ParsedEmail",
    "message_ids",
    "normalise_message_id",
    "parse_email",
    "stable_fallback_id",
]

if TYPE_CHECKING:
    _Msg: TypeAlias = Message[str, str]


@dataclass(frozen=True, slots=True)
class Address:
    email: str  # lower-cased addr-spec, "" if unparseable
    name: str  # decoded display name ("" if none)


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    filename: str  # decoded, reduced to a safe base name; "attachment<.ext>" when missing
    content_type: str  # lower-case "type/subtype"
    data: bytes
    content_id: str | None  # without angle brackets
    inline: bool  # shown inline (referenced by cid:) rather than offered as a download


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str | None  # normalised (no brackets / whitespace); None if absent or garbage
    in_reply_to: tuple[str, ...]  # normalised ids, de-duplicated
    references: tuple[str, ...]  # normalised ids in order, de-duplicated, the last MAX_REFERENCES kept
    subject: str  # encoded words decoded, whitespace folded, no CR/LF or control characters
    from_: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    delivered_to: tuple[str, ...]  # Delivered-To / X-Original-To / Envelope-To, lower-cased
    date: datetime | None  # aware, UTC
    text: str  # the text/plain body with \n line endings, or a rendering of the HTML when that is all there is
    html: str | None  # the text/html body, decoded but NOT sanitised
    attachments: tuple[ParsedAttachment, ...]
    auto_submitted: bool  # automatic: must never open or reopen a ticket on its own
    suppress_autoresponse: bool  # we must not send an automatic response to it
    is_bounce: bool
    bounce_original_message_id: str | None  # the message that bounced
    bounce_recipients: tuple[str, ...]  # Final-/Original-Recipient addresses, lower-cased
    is_list: bool
    headers: dict[str, str] = field(hash=False)  # a few raw-ish headers for storage (see _STORED_HEADERS)
    defects: tuple[str, ...]  # human-readable problems found while parsing


# --------------------------------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------------------------------

MAX_REFERENCES = 100
MAX_HEADER_VALUE = 1000
MAX_FILENAME = 200
MAX_MESSAGE_ID = 998  # the RFC 5322 line length limit; anything longer is garbage
MAX_MIME_DEPTH = 50
MAX_MIME_PARTS = 1000
# The stdlib parser checks every line against every open boundary: 900 nested multiparts over 500,000 lines took
# 39 s, 50 over as many 2 s. Past this many boundaries times lines (~1.7 s at worst) the body is kept as text; a
# real message stays far below it (a 25 MB one with 10 boundaries: 5,000,000).
MAX_BOUNDARY_CHECKS = 20_000_000
_BOUNDARY_RE = re.compile(rb"boundary\s*=", re.I)
MAX_DEFECTS = 100

# --------------------------------------------------------------------------------------------------------------------
# Message-IDs
# --------------------------------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"\s+")
# A bracketed id, a (comment) to skip, or a bare token.
_ID_TOKEN_RE = re.compile(r"<([^<>]*)>?|\((?:[^()\\]|\\.)*\)?|([^\s,<>()]+)")
_ID_BAD_RE = re.compile(r"[\x00-\x1f\x7f<>\s]")


def normalise_message_id(value: str) -> str | None:
    """``"<Abc@Host>"`` -> ``"Abc@Host"``: brackets and whitespace stripped, case preserved; None when invalid."""
    if not value:
        return None
    value = value.strip()
    if "<" in value:
        start = value.index("<") + 1
        end = value.find(">", start)
        inner = value[start:] if end < 0 else value[start:end]
        # Folding whitespace inside the brackets is an artefact of line wrapping.
        value = _WS_RE.sub("", inner)
    else:
        value = value.strip(" \t\r\n>")
    if not value or len(value) > MAX_MESSAGE_ID or "@" not in value or _ID_BAD_RE.search(value):
        return None
    if value.startswith("@") or value.endswith("@"):
        return None
    return value


def message_ids(value: str) -> tuple[str, ...]:
    """All ids in a Message-ID / In-Reply-To / References value, normalised, in order (duplicates kept).

    Bracketed ids win: when any ``<...>`` is present, bare words are ignored (they are usually prose such as
    ``In-Reply-To: <id@host> (Jane's message of Monday)``). Without brackets, whitespace- or comma-separated bare ids
    are accepted.
    """
    if not value:
        return ()
    bracketed: list[str] = []
    bare: list[str] = []
    for m in _ID_TOKEN_RE.finditer(value):
        inner, token = m.group(1), m.group(2)
        if inner is not None:
            norm = normalise_message_id("<" + inner + ">")
            if norm is not None:
                bracketed.append(norm)
        elif token is not None and not bracketed:
            norm = normalise_message_id(token)
            if norm is not None:
                bare.append(norm)
    return tuple(bracketed) if bracketed else tuple(bare)


def stable_fallback_id(raw: bytes) -> str:
    """A deterministic id for a message without a Message-ID (same bytes with CRLF or LF endings -> same id)."""
    normalised = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return "sha256-" + hashlib.sha256(normalised).hexdigest() + "@no-message-id"


# --------------------------------------------------------------------------------------------------------------------
# Charsets and text decoding
# --------------------------------------------------------------------------------------------------------------------

# Labels seen in the wild that Python does not know, or knows by a narrower codec than mailers actually use.
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-8": "utf-8",
    "utf8mb4": "utf-8",
}
# Codecs that can turn attacker bytes into arbitrary code points (or always fail); treated as unknown charsets.
_UNSAFE_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "undefined", "idna", "punycode", "unicode-internal"}
)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_NON_ASCII_GOOD_RE = re.compile("[^\x00-\x7f\ufffd]")


@lru_cache(maxsize=256)
def _codec(charset: str) -> str | None:
    """Python codec name for a MIME charset label, None when unknown or unsafe."""
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    if not label or len(label) > 40:
        return None
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError, TypeError):
        return None
    return None if name.replace("_", "-") in _UNSAFE_CODECS else name


def _decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode with the declared charset, falling back to UTF-8, then Latin-1. Returns (text, problem or None).

    When the strict UTF-8 fallback fails but the bytes do contain valid multi-byte UTF-8 sequences, the text is
    taken as UTF-8 with replacement characters (one stray byte must not turn a whole UTF-8 body into mojibake);
    otherwise it is Latin-1.
    """
    problem: str | None = None
    if charset:
        codec = _codec(charset)
        if codec is None:
            problem = f"undecodable charset {charset.strip()[:40]}"
        else:
            try:
                text = data.decode(codec)
            except (UnicodeError, LookupError):
                problem = f"text is not valid {charset.strip()[:40]}"
            else:
                if codec == "utf-7" and _SURROGATE_RE.search(text):
                    text = _SURROGATE_RE.sub("\ufffd", text)
                return text, None
    try:
        return data.decode("utf-8"), problem
    except UnicodeDecodeError:
        lenient = data.decode("utf-8", "replace")
        if _NON_ASCII_GOOD_RE.search(lenient):
            return lenient, problem or "text is not valid utf-8"
        return data.decode("latin-1", "replace"), problem


def _fix_8bit(value: str) -> tuple[str, bool]:
    """Undo the parser's surrogateescape of raw 8-bit header bytes. Returns (text, was-not-utf-8)."""
    if value.isascii():
        return value, False
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace"), True


# --------------------------------------------------------------------------------------------------------------------
# Encoded words (RFC 2047) and header clean-up
# --------------------------------------------------------------------------------------------------------------------

_EW_RE = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?]*)\?=")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET)
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
# Controls plus bidi overrides / isolates that can disguise a filename ("invoice\u202efdp.exe").
_FILENAME_BAD_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _b64_lenient(data: bytes) -> tuple[bytes, bool]:
    """Decode base64, recovering what can be recovered. Returns (bytes, had-problems)."""
    core = data.translate(None, b" \t\r\n")
    if len(core) % 4 == 0:
        try:
            return binascii.a2b_base64(core, strict_mode=True), False
        except binascii.Error:
            pass
    out = bytearray()
    # "=" in the middle means concatenated encodings: decode each run on its own.
    for run in core.translate(None, _NOT_B64.replace(b"=", b"")).split(b"="):
        if len(run) % 4 == 1:
            run = run[:-1]  # a lone trailing sextet carries no complete byte
        if run:
            out += binascii.a2b_base64(run + b"=" * (-len(run) % 4))
    return bytes(out), True


def _decode_words(value: str, header: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded words; undecodable words are kept literally (with a defect)."""
    if "=?" not in value:
        return value
    parts: list[str] = []
    pending = bytearray()
    pending_charset = ""
    last_was_word = False
    pos = 0

    def flush() -> None:
        if pending:
            text, problem = _decode_bytes(bytes(pending), pending_charset)
            if problem:
                defects.append(f"header {header}: {problem}")
            parts.append(text)
            pending.clear()

    for m in _EW_RE.finditer(value):
        gap = value[pos : m.start()]
        pos = m.end()
        if gap and not (last_was_word and gap.isspace()):
            flush()
            parts.append(gap)
        charset = m.group(1).split("*", 1)[0]  # RFC 2231 language suffix: =?utf-8*en?Q?...?=
        payload = m.group(3)
        if m.group(2) in "bB":
            decoded, bad = _b64_lenient(payload.encode("ascii", "replace"))
            if bad:
                defects.append(f"header {header}: invalid encoded word")
            if not decoded and payload:
                flush()
                parts.append(m.group(0))
                last_was_word = False
                continue
        else:
            decoded = binascii.a2b_qp(payload.encode("utf-8"), header=True)
        if charset.lower() != pending_charset.lower():
            flush()
            pending_charset = charset
        pending += decoded  # adjacent words of one charset may split a multi-byte character
        last_was_word = True
    flush()
    parts.append(value[pos:])
    return "".join(parts)


def _unfold(value: str) -> str:
    if "\n" in value or "\r" in value:
        return value.replace("\r", "").replace("\n", "")
    return value


def _clean_line(value: str) -> str:
    """One line of text: whitespace folded, control characters removed."""
    value = " ".join(value.split())
    return _CONTROL_RE.sub("", value) if not value.isprintable() else value


# --------------------------------------------------------------------------------------------------------------------
# MIME parameters (Content-Type / Content-Disposition), RFC 2231 included
# --------------------------------------------------------------------------------------------------------------------

_PARAM_RE = re.compile(r';\s*([^\s;="]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"?|[^;]*))?')
_QUOTED_PAIR_RE = re.compile(r"\\(.)")


def _parse_params(value: str, where: str, defects: list[str]) -> tuple[str, dict[str, str]]:
    """``'text/plain; charset="utf-8"'`` -> ``("text/plain", {"charset": "utf-8"})``. Names are lower-cased."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    if not rest:
        return main.strip().lower(), params
    extended: dict[str, list[tuple[int, bool, str]]] = {}
    for m in _PARAM_RE.finditer(";" + rest):
        name = m.group(1).lower()
        raw = m.group(2) or ""
        if raw.startswith('"'):
            raw = raw[1:-1] if len(raw) > 1 and raw.endswith('"') else raw[1:]
            if "\\" in raw:
                raw = _QUOTED_PAIR_RE.sub(r"\1", raw)
        else:
            raw = raw.strip()
        if "*" not in name:
            params.setdefault(name, raw)
            continue
        base, _, section = name.partition("*")
        encoded = section.endswith("*") or section == ""
        index = section.rstrip("*") or "0"
        if index.isdigit() and len(extended.get(base, ())) < 100:
            extended.setdefault(base, []).append((int(index), encoded, raw))
    for base, sections in extended.items():
        sections.sort(key=lambda s: s[0])
        charset = ""
        chunks = bytearray()
        for i, (_, encoded, text) in enumerate(sections):
            if encoded:
                if i == 0 and text.count("'") >= 2:
                    charset, _, text = text.split("'", 2)
                    charset = charset or "utf-8"
                chunks += unquote_to_bytes(text)
            else:
                chunks += text.encode("utf-8")
        decoded, problem = _decode_bytes(bytes(chunks), charset or "utf-8")
        if problem:
            defects.append(f"{where}: parameter {base}: {problem}")
        params[base] = decoded  # the RFC 2231 form wins over a plain one
    return main.strip().lower(), params


# --------------------------------------------------------------------------------------------------------------------
# Addresses, dates
# --------------------------------------------------------------------------------------------------------------------


def _valid_addr(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain) and not any(c.isspace() for c in addr) and "<" not in addr


def _split_address_list(value: str) -> list[str]:
    """Split an address list at top-level commas (not inside quotes, <>, [] or comments); group names dropped."""
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    depth = 0
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in ",;":
            items.append("".join(buf))
            buf = []
            continue
        elif depth == 0 and ch == ":":
            buf = []  # "Team: a@x, b@y;" -- the group name is not an address
            continue
        buf.append(ch)
    items.append("".join(buf))
    return [item.strip() for item in items if item.strip()]


def _getaddresses(value: str) -> list[tuple[str, str]] | None:
    """email.utils.getaddresses, or None where it fails: it recursed once per "(" (a thousand raised RecursionError,
    and the whole message was lost to the fallback parse, sender included)."""
    try:
        return getaddresses([value])
    except (RecursionError, ValueError):
        return None


def _addresses(values: list[str], header: str, defects: list[str]) -> tuple[list[Address], list[str]]:
    """Parse address headers. Returns (addresses, addr-specs as written); unparseable entries get email=""."""
    out: list[Address] = []
    raw_addrs: list[str] = []

    def add(name: str, addr: str) -> None:
        out.append(Address(addr.lower(), _clean_line(_decode_words(name, header, defects)) if name else ""))
        raw_addrs.append(addr)

    for value in values:
        pairs = _getaddresses(value)
        if (
            pairs is not None
            and all(_valid_addr(addr) or not (name or addr) for name, addr in pairs)
            and (
                any(addr for _, addr in pairs) or not _split_address_list(value)  # nothing but an empty group
            )
        ):
            for name, addr in pairs:
                if addr:
                    add(name, addr)
            continue
        # Slow path, only when something is wrong: one element at a time so garbage keeps its full text.
        for item in _split_address_list(value):
            found = [(name, addr) for name, addr in _getaddresses(item) or [] if name or addr]
            if found and all(_valid_addr(addr) for _, addr in found):
                for name, addr in found:
                    add(name, addr)
                continue
            text = _clean_line(_decode_words(item, header, defects))
            defects.append(f"header {header}: unparseable address {text[:100]!r}")
            out.append(Address("", text))
            raw_addrs.append(found[0][1] if found else "")
    return out, raw_addrs


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000" or no zone: RFC 5322 says the zone is unknown; UTC is the best guess
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------------------------------------------------
# HTML -> plain text
# --------------------------------------------------------------------------------------------------------------------

# Deliberately simple patterns with no nested quantifiers: linear time on any input.
_HTML_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
# The tag name's run is possessive (*+): with [^<>]* free to take the same characters, "<a" and 100,000 letters
# with no ">" were split every way between the two (quadratic: 29 s).
_HTML_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]*+)[^<>]*>|<[!?][^<>]*>")
_LINE_TAGS = frozenset(
    "div li ul ol tr table tbody thead tfoot h1 h2 h3 h4 h5 h6 blockquote pre hr section article header footer "
    "address center dl dt dd form fieldset figure figcaption main nav aside caption".split()
)
_DROP_ELEMENTS = ("script", "style", "head", "title")


def _find_open_tag(lower: str, name: str, start: int) -> int:
    """Index of the next ``<name`` that really opens that element ("<header>" is not "<head>"), or -1."""
    needle = "<" + name
    end = len(needle)
    i = lower.find(needle, start)
    while i >= 0 and i + end < len(lower) and lower[i + end] not in " \t\r\n/>":
        i = lower.find(needle, i + 1)
    return i


def _drop_elements(src: str) -> str:
    """Remove <script>, <style>, <head> and <title> elements with their content (linear scan, no regex)."""
    lower = src.lower()
    upcoming = {name: _find_open_tag(lower, name, 0) for name in _DROP_ELEMENTS}
    if all(i < 0 for i in upcoming.values()):
        return src
    out: list[str] = []
    pos = 0
    n = len(src)
    while pos < n:
        for name, i in upcoming.items():
            if 0 <= i < pos:
                upcoming[name] = _find_open_tag(lower, name, pos)
        candidates = [(i, name) for name, i in upcoming.items() if i >= 0]
        if not candidates:
            break
        start, found = min(candidates)
        out.append(src[pos:start])
        end = lower.find("</" + found, start)
        close = lower.find(">", end) if end >= 0 else -1
        pos = n if close < 0 else close + 1
    if pos < n:
        out.append(src[pos:])
    return "".join(out)


_LONG_CHAR_REF_RE = re.compile(r"&#(?:[xX][0-9a-fA-F]{8,}|[0-9]{8,});?")


def _unescape(text: str) -> str:
    """html.unescape, except that a numeric reference too long to be a character becomes U+FFFD: one of 4,300
    digits made html.unescape raise, and the whole message was lost to the fallback parse (sender included)."""
    return html_lib.unescape(_LONG_CHAR_REF_RE.sub("\ufffd", text) if "&#" in text else text)


def _html_to_text(src: str) -> str:
    """A readable plain-text rendering: tags stripped, entities unescaped, line breaks kept for block elements."""
    src = _HTML_COMMENT_RE.sub("", _drop_elements(src))
    out: list[str] = []
    at_line_start = True
    pos = 0

    def newline() -> None:
        nonlocal at_line_start
        if not at_line_start:
            out.append("\n")
            at_line_start = True

    for m in _HTML_TAG_RE.finditer(src):
        text = src[pos : m.start()]
        pos = m.end()
        if text:
            text = _WS_RE.sub(" ", text)
            if at_line_start:
                text = text.lstrip(" ")
            if text:
                out.append(_unescape(text))
                at_line_start = False
        name = (m.group(2) or "").lower()
        if not name:
            continue
        if name == "br":
            out.append("\n")
            at_line_start = True
        elif name == "p":
            newline()
            if out and out[-1] == "\n" and len(out) > 1 and out[-2] != "\n":
                out.append("\n")  # a blank line between paragraphs
        elif name in _LINE_TAGS:
            newline()
        elif name in ("td", "th") and not m.group(1) and not at_line_start:
            out.append(" ")
    tail = src[pos:]
    if tail and not tail.isspace():
        out.append(_unescape(_WS_RE.sub(" ", tail)))
    lines: list[str] = []
    for line in "".join(out).replace("\xa0", " ").split("\n"):
        line = " ".join(line.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip("\n")


# --------------------------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------------------------

_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/xml": ".xml",
    "text/rfc822-headers": ".txt",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "image/svg+xml": ".svg",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/gzip": ".gz",
    "application/json": ".json",
    "application/xml": ".xml",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/ms-tnef": ".dat",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/disposition-notification": ".txt",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}


def _safe_filename(name: str, content_type: str) -> str:
    """A base name with no path, no control characters, at most MAX_FILENAME characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _FILENAME_BAD_RE.sub("", name)
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    if name:
        return name
    ext = _EXTENSIONS.get(content_type) or (".txt" if content_type.startswith("text/") else "")
    return "attachment" + ext


def _clean_content_id(value: str | None) -> str | None:
    if not value:
        return None
    cid = _WS_RE.sub("", value).strip("<>")
    return cid or None


# --------------------------------------------------------------------------------------------------------------------
# parse_email
# --------------------------------------------------------------------------------------------------------------------

_PARSER = BytesParser(policy=compat32)
# Regenerating an attached message: wire-format line endings, headers refolded only past RFC 5322's 998 characters
# (with no limit the stdlib re-measured the whole line for each word: a 60 KB header took 26 s).
_EML_POLICY = compat32.clone(max_line_length=998, linesep="\r\n")

_WANTED = frozenset(
    {
        "message-id",
        "in-reply-to",
        "references",
        "subject",
        "from",
        "reply-to",
        "to",
        "cc",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "date",
        "auto-submitted",
        "x-autoreply",
        "x-autorespond",
        "precedence",
        "x-auto-response-suppress",
        "list-id",
        "list-unsubscribe",
        "return-path",
        "content-type",
        "content-disposition",
        "content-id",
    }
)
_STORED_HEADERS = {
    "message-id": "Message-ID",
    "in-reply-to": "In-Reply-To",
    "references": "References",
    "auto-submitted": "Auto-Submitted",
    "precedence": "Precedence",
    "list-id": "List-Id",
    "x-autoreply": "X-Autoreply",
    "x-auto-response-suppress": "X-Auto-Response-Suppress",
    "return-path": "Return-Path",
}
_DELIVERED_HEADERS = (
    ("delivered-to", "Delivered-To"),
    ("x-original-to", "X-Original-To"),
    ("envelope-to", "Envelope-To"),
)
_AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "auto-reply", "list"})
_SUPPRESS_TOKENS = frozenset({"all", "autoreply", "oof", "dr", "rn", "nrn"})
_TOKEN_SPLIT_RE = re.compile(r"[\s,;]+")
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
# "<>", with any whitespace (a pattern such as \s*<?\s*>?\s* tried every split of a long whitespace run: cubic).
_NULL_PATHS = frozenset({"", "<", ">", "<>"})
_RFC822_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_MESSAGE_ID_RE = re.compile(r"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)
_DSN_RECIPIENT_RE = re.compile(r"^(?:final|original)-recipient:[^;\n]*;\s*(\S+)", re.I | re.M)

_DEFECT_TEXT = {
    "NoBoundaryInMultipartDefect": "multipart without a boundary",
    "StartBoundaryNotFoundDefect": "multipart start boundary not found",
    "CloseBoundaryNotFoundDefect": "multipart close boundary not found",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "misplaced envelope (From ) header",
    "MissingHeaderBodySeparatorDefect": "malformed header line (treated as start of body)",
    "MultipartInvariantViolationDefect": "multipart without sub-parts",
    "InvalidMultipartContentTransferEncodingDefect": "invalid Content-Transfer-Encoding on a multipart",
    "InvalidBase64PaddingDefect": "invalid base64 padding",
    "InvalidBase64CharactersDefect": "invalid base64 characters",
    "InvalidBase64LengthDefect": "invalid base64 length",
    "UndecodableBytesDefect": "undecodable bytes",
}


def _final_defects(defects: list[str]) -> tuple[str, ...]:
    """De-duplicated, one line each, at most MAX_DEFECTS (hostile input can produce thousands)."""
    unique = list(dict.fromkeys(_clean_line(d) for d in defects))
    if len(unique) > MAX_DEFECTS:
        unique[MAX_DEFECTS:] = [f"... and {len(unique) - MAX_DEFECTS} more defects"]
    return tuple(unique)


def _defect_text(defect: Exception) -> str:
    name = type(defect).__name__
    text = _DEFECT_TEXT.get(name)
    if text is None:
        text = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Defect")).lower()
    return text


_Headers = tuple[str | None, str | None, str | None]  # raw Content-Type, Content-Disposition, Content-ID


@dataclass(slots=True)
class _Walk:
    """Mutable accumulator for the single pass over the MIME tree."""

    defects: list[str]
    top_type: str = "text/plain"
    top_params: dict[str, str] = field(default_factory=dict)
    text_parts: list[str] = field(default_factory=list)
    html_parts: list[str] = field(default_factory=list)
    text_branch: tuple[int, int] | None = None
    html_branch: tuple[int, int] | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    returned_message_id: str | None = None
    # In order, without repeats (a list's membership tests were quadratic).
    dsn_recipients: dict[str, None] = field(default_factory=dict)


def _part_headers(part: _Msg) -> _Headers:
    ctype = disp = cid = None
    for name, value in part.raw_items():
        key = name.lower()
        if key == "content-type":
            ctype = ctype or value
        elif key == "content-disposition":
            disp = disp or value
        elif key == "content-id":
            cid = cid or value
    return ctype, disp, cid


def _prep(value: str, header: str, defects: list[str]) -> str:
    """Unfold a raw header value and turn raw 8-bit bytes back into text."""
    value, non_utf8 = _fix_8bit(_unfold(value))
    if non_utf8:
        defects.append(f"header {header}: raw 8-bit bytes that are not utf-8")
    return value


def _walk(msg: _Msg, top: _Headers, acc: _Walk) -> None:
    """Depth-first, in document order, iterative (no recursion limit), every payload decoded exactly once."""
    defects = acc.defects
    # (part, depth, its headers if already known, branch of the nearest multipart/alternative, inside related)
    stack: list[tuple[_Msg, int, _Headers | None, tuple[int, int] | None, bool]] = [(msg, 0, top, None, False)]
    seen = 0
    while stack:
        part, depth, hdrs, branch, related = stack.pop()
        seen += 1
        if seen > MAX_MIME_PARTS:
            defects.append(f"more than {MAX_MIME_PARTS} MIME parts; the rest was skipped")
            return
        ctype_raw, disp_raw, cid_raw = hdrs if hdrs is not None else _part_headers(part)
        where = "message" if depth == 0 else "MIME part"
        for defect in part.defects:
            defects.append(f"{where}: {_defect_text(defect)}")
        params: dict[str, str] = {}
        if ctype_raw:
            ctype, params = _parse_params(_prep(ctype_raw, "Content-Type", defects), where, defects)
            if ctype.count("/") != 1 or " " in ctype or ctype.startswith("/") or ctype.endswith("/"):
                defects.append(f"{where}: invalid Content-Type {ctype[:60]!r}")
                ctype = "text/plain"
        else:
            ctype = part.get_default_type()
        if depth == 0:
            acc.top_type, acc.top_params = ctype, params
        is_container = part.is_multipart()

        if is_container:
            if ctype == "message/delivery-status":
                _delivery_status(part, acc)
            elif ctype.startswith("message/"):
                _attached_message(part, ctype, params, disp_raw, acc)
            elif depth >= MAX_MIME_DEPTH:
                defects.append(f"MIME nesting deeper than {MAX_MIME_DEPTH}; the rest was skipped")
            else:
                children = part.get_payload()
                if isinstance(children, list):
                    alt = ctype == "multipart/alternative"
                    rel = related or ctype == "multipart/related"
                    for index in range(len(children) - 1, -1, -1):
                        child = children[index]
                        if isinstance(child, Message):
                            stack.append((child, depth + 1, None, (id(part), index) if alt else branch, rel))
            continue
        if ctype.startswith("multipart/"):
            ctype = "text/plain"  # a multipart whose boundary never showed up: recover the raw text

        disposition, disp_params = "", dict[str, str]()
        if disp_raw:
            disposition, disp_params = _parse_params(_prep(disp_raw, "Content-Disposition", defects), where, defects)
        filename = disp_params.get("filename") or params.get("name") or ""
        if "=?" in filename:
            filename = _decode_words(filename, "Content-Disposition", defects)

        data = _payload_bytes(part, where, defects)

        if (
            (ctype == "text/plain" or ctype == "text/html")
            and disposition != "attachment"
            and (depth == 0 or not filename)
        ):
            _body_part(data, ctype, params.get("charset"), branch, acc)
            continue
        if branch is not None and ctype.startswith("text/") and ctype != "text/calendar" and not filename:
            continue  # an alternative rendering we do not use (text/enriched, text/watch-html, ...)
        if ctype == "text/rfc822-headers" and acc.returned_message_id is None:
            acc.returned_message_id = _message_id_from_header_block(data)
        cid = _clean_content_id(_prep(cid_raw, "Content-ID", defects)) if cid_raw else None
        inline = cid is not None and (disposition == "inline" or (not disposition and related))
        acc.attachments.append(ParsedAttachment(_safe_filename(filename, ctype), ctype, data, cid, inline))


def _payload_bytes(part: _Msg, where: str, defects: list[str]) -> bytes:
    """The transfer-decoded payload (base64 / quoted-printable / uuencode / raw 8-bit), with decoding defects."""
    known = len(part.defects)
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return b""
    for defect in part.defects[known:]:
        defects.append(f"{where}: {_defect_text(defect)}")
        if type(defect).__name__ == "InvalidBase64LengthDefect":
            # The stdlib hands back the still-encoded text in this case: salvage what decodes.
            data, _ = _b64_lenient(data)
    return data


def _body_part(data: bytes, ctype: str, charset: str | None, branch: tuple[int, int] | None, acc: _Walk) -> None:
    is_html = ctype == "text/html"
    parts, taken = (acc.html_parts, acc.html_branch) if is_html else (acc.text_parts, acc.text_branch)
    if parts and taken is not None and branch is not None and taken[0] == branch[0] and taken != branch:
        return  # another rendering of a multipart/alternative we already took this type from
    text, problem = _decode_bytes(data, charset)
    if problem:
        acc.defects.append(f"body: {problem}")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    if not parts:
        if is_html:
            acc.html_branch = branch
        else:
            acc.text_branch = branch
    parts.append(text)  # more than one (Apple Mail splits the body around inline images): concatenated


def _delivery_status(part: _Msg, acc: _Walk) -> None:
    """Final-Recipient / Original-Recipient addresses of a message/delivery-status part."""
    blocks = part.get_payload()
    found: list[str] = []
    if isinstance(blocks, list):
        for block in blocks:
            if isinstance(block, Message):
                for name, value in block.raw_items():
                    if name.lower() in ("final-recipient", "original-recipient"):
                        found.append(_fix_8bit(_unfold(value))[0].partition(";")[2])
    elif isinstance(blocks, str):
        found.extend(_DSN_RECIPIENT_RE.findall(blocks))
    for addr in found:
        addr = addr.strip().strip("<>").lower()
        if "@" in addr:
            acc.dsn_recipients.setdefault(addr)


def _message_id_from_header_block(data: bytes) -> str | None:
    m = _HEADER_MESSAGE_ID_RE.search(data.decode("latin-1"))
    if m is None:
        return None
    ids = message_ids(_unfold(m.group(1)))
    return ids[0] if ids else None


def _attached_message(part: _Msg, ctype: str, params: dict[str, str], disp_raw: str | None, acc: _Walk) -> None:
    """A message/* part (a forwarded message, a returned message in a bounce, an MDN): kept as an attachment."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return
    try:
        data = inner.as_bytes(policy=_EML_POLICY)
    except Exception as exc:  # the stdlib generator on hostile input must not take the whole message down
        acc.defects.append(f"attached message could not be regenerated ({type(exc).__name__})")
        data = b""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte in ("base64", "quoted-printable"):
        # Not allowed by RFC 2046 but sent anyway: the parser took the still-encoded text for a message.
        data = _b64_lenient(data)[0] if cte == "base64" else binascii.a2b_qp(data)
        inner = _PARSER.parsebytes(data, headersonly=True)
    filename = ""
    if disp_raw:
        filename = _parse_params(_prep(disp_raw, "Content-Disposition", []), "MIME part", [])[1].get("filename", "")
    filename = filename or params.get("name", "")
    if "=?" in filename:
        filename = _decode_words(filename, "Content-Disposition", acc.defects)
    if ctype in _RFC822_TYPES:
        subject = ""
        message_id: str | None = None
        for name, value in inner.raw_items():
            key = name.lower()
            if key == "subject" and not subject:
                subject = _clean_line(_decode_words(_prep(value, "Subject", []), "Subject", []))
            elif key == "message-id" and message_id is None:
                ids = message_ids(_unfold(value))
                message_id = ids[0] if ids else None
        if acc.returned_message_id is None:
            acc.returned_message_id = message_id
        if not filename:
            filename = (subject.replace("/", "_").replace("\\", "_")[: MAX_FILENAME - 4] or "attachment") + ".eml"
    acc.attachments.append(ParsedAttachment(_safe_filename(filename, ctype), ctype, data, None, False))


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse one raw message. Never raises on malformed input; problems are listed in ``defects``."""
    defects: list[str] = []
    try:
        boundaries, lines = len(_BOUNDARY_RE.findall(raw)), raw.count(b"\n")
        if boundaries * lines > MAX_BOUNDARY_CHECKS:
            raise ValueError(f"{boundaries} multipart boundaries over {lines} lines")
        msg: _Msg = _PARSER.parsebytes(raw)
    except Exception as exc:  # e.g. RecursionError on absurdly deep MIME nesting
        defects.append(f"MIME structure could not be parsed ({type(exc).__name__}: {exc}); body kept as raw text")
        msg = _PARSER.parsebytes(raw, headersonly=True)
    try:
        return _build(msg, defects)
    except Exception as exc:  # last resort: one poisonous message must not stall the ingest queue
        defects.append(f"message could not be fully parsed ({type(exc).__name__}: {str(exc)[:200]})")
        return _minimal(raw, defects)


def _minimal(raw: bytes, defects: list[str]) -> ParsedEmail:
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    text, _ = _decode_bytes(body if body else head, None)
    return ParsedEmail(
        message_id=None,
        in_reply_to=(),
        references=(),
        subject="",
        from_=None,
        reply_to=(),
        to=(),
        cc=(),
        delivered_to=(),
        date=None,
        text=text.replace("\x00", ""),
        html=None,
        attachments=(),
        auto_submitted=False,
        suppress_autoresponse=False,
        is_bounce=False,
        bounce_original_message_id=None,
        bounce_recipients=(),
        is_list=False,
        headers={},
        defects=_final_defects(defects),
    )


def _build(msg: _Msg, defects: list[str]) -> ParsedEmail:
    hdrs: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key in _WANTED:
            hdrs.setdefault(key, []).append(value)

    def first(key: str, label: str) -> str | None:
        values = hdrs.get(key)
        return _prep(values[0], label, defects) if values else None

    # Identity and threading.
    raw_id = first("message-id", "Message-ID")
    message_id = None
    if raw_id is None:
        defects.append("missing Message-ID")
    else:
        ids = message_ids(raw_id)
        message_id = ids[0] if ids else None
        if message_id is None:
            defects.append(f"invalid Message-ID {raw_id[:100]!r}")
    raw_irt = first("in-reply-to", "In-Reply-To")
    # Normally one id; capped like References, since every id becomes a look-up parameter when threading.
    in_reply_to = tuple(dict.fromkeys(message_ids(raw_irt)))[:MAX_REFERENCES] if raw_irt else ()
    references: tuple[str, ...] = ()
    if "references" in hdrs:
        refs = tuple(dict.fromkeys(i for v in hdrs["references"] for i in message_ids(_prep(v, "References", defects))))
        references = refs[-MAX_REFERENCES:]

    raw_subject = first("subject", "Subject")
    subject = _clean_line(_decode_words(raw_subject, "Subject", defects)) if raw_subject else ""

    # People.
    from_: Address | None = None
    from_local = ""
    if "from" in hdrs:
        found, raw_addrs = _addresses([_prep(v, "From", defects) for v in hdrs["from"]], "From", defects)
        if found:
            from_ = found[0]
            from_local = (from_.email or (raw_addrs[0] if raw_addrs else "")).partition("@")[0].lower()
    else:
        defects.append("missing From")

    def addresses(key: str, label: str) -> tuple[Address, ...]:
        if key not in hdrs:
            return ()
        return tuple(_addresses([_prep(v, label, defects) for v in hdrs[key]], label, defects)[0])

    reply_to = addresses("reply-to", "Reply-To")
    to = addresses("to", "To")
    cc = addresses("cc", "Cc")
    delivered: dict[str, None] = {}
    for key, label in _DELIVERED_HEADERS:
        for value in hdrs.get(key, ()):
            for _, addr in getaddresses([_prep(value, label, defects)]):
                if _valid_addr(addr):
                    delivered[addr.lower()] = None

    raw_date = first("date", "Date")
    date = None
    if raw_date is None:
        defects.append("missing Date")
    else:
        date = _parse_date(raw_date)
        if date is None:
            defects.append(f"invalid Date {raw_date[:100]!r}")

    # Body and attachments: one walk over the MIME tree.
    top: _Headers = (
        hdrs["content-type"][0] if "content-type" in hdrs else None,
        hdrs["content-disposition"][0] if "content-disposition" in hdrs else None,
        hdrs["content-id"][0] if "content-id" in hdrs else None,
    )
    acc = _Walk(defects)
    _walk(msg, top, acc)
    html = "\n".join(acc.html_parts) if acc.html_parts else None
    text = "\n".join(acc.text_parts)
    if html is not None and not text.strip():
        text = _html_to_text(html)  # only HTML (or an empty text/plain alternative next to it)

    # Classification.
    stored: dict[str, str] = {}
    for key, label in _STORED_HEADERS.items():
        if key in hdrs:
            value = _clean_line(_decode_words(_prep(hdrs[key][0], label, []), label, []))
            stored[label] = value[:MAX_HEADER_VALUE]

    top_type = acc.top_type
    report_type = acc.top_params.get("report-type", "").strip().lower()
    null_return_path = "return-path" in hdrs and "".join(hdrs["return-path"][0].split()) in _NULL_PATHS

    is_bounce = (top_type == "multipart/report" and report_type == "delivery-status") or (
        from_local in _BOUNCE_SENDERS and null_return_path
    )
    is_list = "list-id" in hdrs or "list-unsubscribe" in hdrs
    auto = is_bounce or (top_type == "multipart/report" and report_type == "disposition-notification")
    for value in hdrs.get("auto-submitted", ()):
        if value.partition(";")[0].strip().lower() != "no":
            auto = True
    for key in ("x-autoreply", "x-autorespond"):
        for value in hdrs.get(key, ()):
            if value.strip().lower() not in ("no", "false"):
                auto = True
    for value in hdrs.get("precedence", ()):
        precedence = value.strip().lower()
        if precedence in _AUTO_PRECEDENCE:
            auto = True
        if precedence == "list":
            is_list = True
    suppress = auto or is_bounce or is_list or null_return_path
    for value in hdrs.get("x-auto-response-suppress", ()):
        if _SUPPRESS_TOKENS.intersection(_TOKEN_SPLIT_RE.split(value.lower())):
            suppress = True

    bounce_id: str | None = None
    bounce_recipients: tuple[str, ...] = ()
    if is_bounce:
        bounce_id = acc.returned_message_id
        if bounce_id is None:
            bounce_id = in_reply_to[0] if in_reply_to else (references[-1] if references else None)
        bounce_recipients = tuple(acc.dsn_recipients)

    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        from_=from_,
        reply_to=reply_to,
        to=to,
        cc=cc,
        delivered_to=tuple(delivered),
        date=date,
        text=text,
        html=html,
        attachments=tuple(acc.attachments),
        auto_submitted=auto,
        suppress_autoresponse=suppress,
        is_bounce=is_bounce,
        bounce_original_message_id=bounce_id,
        bounce_recipients=bounce_recipients,
        is_list=is_list,
        headers=stored,
        defects=_final_defects(defects),
    )
