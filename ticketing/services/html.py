"""Turning untrusted text and HTML into markup that is safe to render on our origin."""

from __future__ import annotations

import html

import mistune
import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# Remote images would tell the sender when an agent opened the mail: only inline (cid:) parts and data: URLs.
URL_SCHEMES = {"http", "https", "mailto", "cid", "data"}

_markdown = mistune.create_markdown(escape=True, plugins=["strikethrough", "table", "url"])


def sanitise_html(markup: str) -> str:
    cleaned = nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_drop_remote_images,
    )
    return cleaned


def _drop_remote_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.startswith(("cid:", "data:image/")):
        return None
    return value


def text_to_html(text: str) -> str:
    """Plain text shown as paragraphs, escaped."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def markdown_to_html(text: str) -> str:
    """Agents write Markdown; the rendered output is sanitised like everything else."""
    return sanitise_html(str(_markdown(text)))
