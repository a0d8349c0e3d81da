"""Benchmark of email ingest: the stdlib's parse-only rate against store + threading + commit, on SQLite and PostgreSQL.

    python bench/ingest.py [--messages 2000] [--seed 1] [--backends sqlite,postgresql] [--batch 100]
                           [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432] [--baseline-runs 3]
                           [--startup-runs 3] [--modes worker,in-process] [--smtp-url URL]
                           [--profile [--profile-out FILE]]

The corpus is generated deterministically (random.Random(seed)) in two waves, because replies must name Message-IDs
that exist only once earlier mail was processed (our acknowledgements' ids are random, ticket ids come from the
database):

  wave 1  the new tickets (30 % of --messages) from ~300 senders at ~50 customers, some from free-mail addresses:
          text/plain, multipart/alternative, HTML only; English, German (UTF-8 and ISO-8859-1), Japanese (UTF-8
          and ISO-2022-JP), emoji, encoded-word subjects and names; ~10 % with a 20-200 KB attachment
  wave 2  generated from what wave 1 left in the database (ticket ids, the first Message-IDs, the acknowledgements'
          Message-IDs, Reply-To addresses and texts): replies by In-Reply-To (to the first message, to our
          acknowledgement or to the customer's previous reply, with References chains), by References only, by the
          [#id] subject token only, by the signed Reply-To address only, auto-replies on a thread (whose tickets are
          set to waiting-on-customer between the waves, so reopening shows) and unthreaded ones, bounces of
          acknowledgements, and replies from senders of another customer (the deliberately unmatched ones)

Measured, in one run:

  baseline     email.message_from_bytes(raw, policy=email.policy.default) and get_body(("plain", "html"))
               .get_content(), over the whole corpus: wave 1 plus a wave 2 generated from the predicted wave-1
               outcome (ticket ids 1..n, acknowledgement ids in our format). It differs from the wave 2 actually
               ingested only in the random acknowledgement ids (the sizes are compared). Measured at the start, and
               again right before and right after each backend's runs: a backend's ratios are to the median of the
               runs that bracket its own (the host's speed drifts by a quarter over minutes; within a minute it
               holds to a few per cent).
  worker       per wave: a long-running `python worker.py` (cwd = the project, env DATABASE_URL, REDIS_URL, RQ_QUEUE,
               ...) is started and registered first, as in production; then store_many() and a commit for every
               --batch messages (as the IMAP poller stores a fetched batch); each commit enqueues ONE
               process_inbound_batch job for its messages, which the worker runs while the next batch is stored.
               Timed from the first store to the end of the last processing job (RQ's job record: that job
               committed) and to the queue being drained (the acknowledgement send jobs the processing queued run
               after it). The worker's start-up time is measured separately (a burst worker on an empty queue).
  in-process   per wave: ticketing.mail.importer.import_messages(inline=True), exactly what `flask ingest --now`
               runs: store a chunk (events.BATCH_MAX), commit, process the chunk in one transaction.

Threading accuracy per class is checked against the wave-1 mapping after every run. Each run gets a fresh database
(a temporary SQLite file or a throw-away PostgreSQL database) with the schema a migrated install has: the models'
tables and indexes (PostgreSQL's trigram index over message bodies among them) and, on SQLite, the FTS5 search indexes
and their triggers (benchkit.add_search_indexes), which every stored message feeds; Redis db 6 is flushed at the
start, between the waves and at the end; every temporary file is removed.
"""

from __future__ import annotations

import argparse
import cProfile
import email
import email.policy
import hashlib
import hmac
import html
import io
import os
import pstats
import quopri
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

import benchkit
import sqlalchemy as sa
from benchkit import create_pg_database, drop_pg_database
from flask import Flask
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from sqlalchemy.orm import Session

# `python bench/ingest.py` puts bench/ first on sys.path: a sibling module there (bench/portal.py) would then shadow
# the project package of the same name that create_app() imports lazily (portal, admin).
benchkit.unshadow_project_packages()

from ticketing.app import create_app  # noqa: E402
from ticketing.domain import mail_tokens  # noqa: E402
from ticketing.domain.lifecycle import Status  # noqa: E402
from ticketing.domain.mail_parse import parse_email  # noqa: E402
from ticketing.extensions import db, inbound_queue_name  # noqa: E402
from ticketing.mail import imap, importer  # noqa: E402
from ticketing.models import (  # noqa: E402
    Contact,
    Customer,
    CustomerDomain,
    InboundMessage,
    InboundStatus,
    OutboundKind,
    OutboundMessage,
    Ticket,
    utcnow,
)
from ticketing.services import mail_inbound  # noqa: E402
from ticketing.services import tickets as ticket_service  # noqa: E402
from ticketing.services.mail_outbound import one_line  # noqa: E402
from ticketing.services.mail_render import render  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/6"  # a db no test uses: the browser tests flush 13
QUEUE = "bench_ingest"
SUPPORT = "support@bluehill.test"
APP_KEY = "bench"  # SECRET_KEY of the bench app and of the worker: the signed reply addresses must agree
PRODUCT = "Bluehill Support"
BASE_URL = "http://127.0.0.1:8000"
ACK_LIMIT = 5
BASE_DATE = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
MIN_MESSAGES = 100

# Shares of --messages. Wave 1 is "new"; the rest is wave 2 (in_reply_to takes whatever is left over).
SHARES = {
    "new": 0.30,
    "in_reply_to": 0.32,
    "references_only": 0.13,
    "subject_token": 0.12,
    "reply_address_token": 0.03,
    "auto_reply_on_thread": 0.04,
    "auto_reply_unthreaded": 0.015,
    "bounce": 0.03,
    "foreign_sender": 0.015,
}
HUMAN = ("in_reply_to", "references_only", "subject_token", "reply_address_token")
MECHANISM = {"subject_token": "subject token", "reply_address_token": "reply address token"}
CLASSES = (*HUMAN, "auto_reply_on_thread", "auto_reply_unthreaded", "bounce", "foreign_sender")
EXPECTED = {
    "in_reply_to": "appended to its ticket, by thread headers",
    "references_only": "appended to its ticket, by thread headers",
    "subject_token": "appended to its ticket, by the subject token",
    "reply_address_token": "appended to its ticket, by the signed Reply-To address",
    "auto_reply_on_thread": "appended, ticket stays waiting_on_customer",
    "auto_reply_unthreaded": "ignored, no ticket",
    "bounce": "outbound row bounced, system note on its ticket",
    "foreign_sender": "new ticket (sender not on the ticket)",
}

# --------------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------------

FREE_MAIL = ("gmail.com", "outlook.com", "gmx.de", "web.de", "yahoo.com", "icloud.com")
ORG_WORDS = {
    "en": (
        ("Blue Ridge", "Copperleaf", "Harbor", "Northstar", "Redwood", "Silverline", "Oakmont", "Brightwater",
         "Falcon", "Ironbridge", "Maple Grove", "Westfield"),
        ("Logistics", "Foods", "Medical", "Software", "Retail", "Energy", "Labs", "Outfitters"),
    ),
    "de": (
        ("Nordwind", "Alpenblick", "Rheinland", "Hafenkante", "Sonnenhof", "Kieferngrund", "Elbtal", "Bergwerk",
         "Mühlbach", "Löwenzahn"),
        ("Logistik GmbH", "Handel AG", "Maschinenbau", "Versand GmbH", "Medizintechnik", "Bäckerei"),
    ),
    "ja": (
        ("Sakura", "Fujimoto", "Kawasaki", "Hinode", "Midori", "Aozora", "Tsubame"),
        ("Trading", "Electronics", "Logistics", "Foods", "Shoji"),
    ),
}  # fmt: skip
FIRST = {
    "en": ("James", "Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Chloe", "Daniel", "Grace",
           "Samuel", "Ruby", "Henry", "Isla"),
    "de": ("Jürgen", "Anna", "Lukas", "Sophie", "Maximilian", "Lena", "Felix", "Marie", "Jörg", "Katharina",
           "Stefan", "Sabine", "Björn", "Hanna"),
    "ja": (("太郎", "taro"), ("花子", "hanako"), ("健", "ken"), ("美咲", "misaki"), ("翔", "sho"), ("結衣", "yui"),
           ("大輔", "daisuke"), ("彩", "aya")),
}  # fmt: skip
LAST = {
    "en": ("Carter", "Hughes", "Patel", "Nguyen", "O'Brien", "Walsh", "Fraser", "Khan", "Murphy", "Ellis", "Brooks",
           "Reid"),
    "de": ("Müller", "Schröder", "Weiß", "Becker", "Hoffmann", "Schäfer", "Köhler", "Groß", "Fischer", "Wagner",
           "Krüger", "Bäcker"),
    "ja": (("山田", "yamada"), ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
           ("伊藤", "ito"), ("渡辺", "watanabe"), ("中村", "nakamura")),
}  # fmt: skip
SUBJECTS = {
    "en": ("Cannot log in to the customer portal", "Invoice {n} shows the wrong VAT rate",
           "CSV export times out after 30 seconds", "Shipment {n} stuck in customs", "API returns 502 on POST /orders",
           "Password reset email never arrives", "Please add a second admin user for our team",
           "Label printer stops after the latest update", "Question about our contract renewal",
           "Stock levels out of sync between warehouse and shop", "Order {n} delivered to the wrong address",
           "Webhook deliveries failing since this morning", "Two-factor codes rejected",
           "Dashboard very slow when filtering by region"),
    "de": ("Rechnung {n}: falscher Mehrwertsteuersatz", "Zugang zum Kundenportal gesperrt",
           "Lieferung {n} hängt im Zoll fest", "Störung: Export bricht nach 30 Sekunden ab",
           "Änderung der Lieferadresse für Auftrag {n}", "Frage zur Vertragsverlängerung und Kündigungsfrist",
           "Etikettendrucker druckt seit dem Update nicht mehr", "Bestandsabgleich zwischen Lager und Shop verzögert",
           "Gutschrift für Retoure {n} fehlt", "Schnittstelle liefert Fehler 502 – dringend"),
    "ja": ("ポータルにログインできません", "請求書{n}の金額が違います", "配送{n}の状況について",
           "APIで502エラーが発生しています", "パスワード再設定メールが届きません", "管理者ユーザーの追加をお願いします",
           "在庫数が倉庫とショップで一致しません"),
}  # fmt: skip
SENTENCES = {
    "en": ("Since yesterday afternoon none of our team can sign in.", "The error message says the session expired.",
           "We already cleared the browser cache and tried another browser.",
           "This blocks our month-end closing, so we would appreciate a quick answer.",
           "The problem only happens for orders with more than 50 lines.",
           "I have attached a screenshot of what we see.", "Could you please check the logs on your side?",
           "Our warehouse staff reported the same issue on two different machines.",
           "It worked fine until the update last Thursday.", "Please let me know if you need more details.",
           "The amount on the invoice does not match the order confirmation.",
           "We expected the shipment on Monday, the tracking page has not changed since.",
           "Nothing in our configuration was changed.", "A colleague in the Hamburg office is affected as well."),
    "de": ("Seit gestern Nachmittag kann sich niemand aus unserem Team anmelden.",
           "Die Fehlermeldung lautet: Sitzung abgelaufen.",
           "Wir haben den Browser-Cache bereits geleert und einen anderen Browser getestet.",
           "Das blockiert unseren Monatsabschluss, daher wäre eine schnelle Rückmeldung sehr hilfreich.",
           "Das Problem tritt nur bei Aufträgen mit mehr als 50 Positionen auf.",
           "Im Anhang finden Sie einen Screenshot.", "Könnten Sie bitte die Protokolle auf Ihrer Seite prüfen?",
           "Unsere Lagermitarbeiter melden dasselbe Problem an zwei verschiedenen Geräten.",
           "Bis zum Update am Donnerstag hat alles einwandfrei funktioniert.",
           "Der Betrag auf der Rechnung stimmt nicht mit der Auftragsbestätigung überein.",
           "Für Rückfragen stehe ich Ihnen gerne zur Verfügung.", "Die Größe der Datei übersteigt 20 MB nicht."),
    "ja": ("昨日の午後から、弊社のチーム全員がログインできなくなりました。",
           "エラーメッセージには「セッションの有効期限が切れました」と表示されます。",
           "ブラウザのキャッシュを削除し、別のブラウザでも試しました。",
           "月末処理に影響が出ているため、早急にご確認いただけますと幸いです。",
           "50行以上の注文でのみ問題が発生します。", "画面のスクリーンショットを添付いたします。",
           "そちらのログをご確認いただけますでしょうか。", "先週木曜日のアップデートまでは正常に動作していました。",
           "請求書の金額が注文確認書と一致しません。", "詳細が必要でしたらお知らせください。"),
}  # fmt: skip
FOLLOW_UPS = {
    "en": ("Thanks for the quick reply.", "Any update on this?", "Attached is the screenshot you asked for.",
           "The problem happened again this morning.", "We tried the workaround, unfortunately it did not help.",
           "Just to add: it also affects the mobile app.", "That fixed it for most users, two still cannot log in."),
    "de": ("Danke für die schnelle Rückmeldung.", "Gibt es hierzu schon Neuigkeiten?",
           "Anbei der gewünschte Screenshot.", "Das Problem ist heute früh erneut aufgetreten.",
           "Die Umgehungslösung hat leider nicht geholfen.", "Ergänzung: Die mobile App ist ebenfalls betroffen."),
    "ja": ("ご返信ありがとうございます。", "その後いかがでしょうか。", "ご依頼のスクリーンショットを添付します。",
           "今朝も同じ問題が発生しました。", "回避策を試しましたが、解決しませんでした。"),
}  # fmt: skip
GREETINGS = {
    "en": ("Hi team,", "Hello,", "Dear Bluehill Support,", "Hi there,"),
    "de": ("Hallo zusammen,", "Sehr geehrte Damen und Herren,", "Guten Tag,"),
    "ja": ("ご担当者様\n\nいつもお世話になっております。",),
}
CLOSINGS = {"en": ("Best regards,", "Thanks,", "Kind regards,"), "de": ("Mit freundlichen Grüßen",
            "Viele Grüße"), "ja": ("よろしくお願いいたします。",)}  # fmt: skip
REPLY_PREFIX = {"en": "Re:", "de": "AW:", "ja": "Re:"}
AUTO_PREFIX = {"en": "Automatic reply:", "de": "Abwesenheitsnotiz:", "ja": "自動応答:"}
OUT_OF_OFFICE = {
    "en": "Thank you for your message. I am out of the office until {day} with limited access to email.\n"
    "For urgent matters please contact our office on +44 20 7946 0{n:03d}.",
    "de": "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich {day} nicht im Büro und habe keinen Zugriff "
    "auf meine E-Mails.\nIn dringenden Fällen wenden Sie sich bitte an die Zentrale: +49 40 123 4{n:03d}.",
    "ja": "ご連絡ありがとうございます。{day}まで不在にしており、メールの確認が遅れます。\n"
    "お急ぎの場合は代表番号 03-1234-5{n:03d} までご連絡ください。",
}
EMOJI = ("🙏", "🚚", "😅", "⚠️", "📦", "🔥", "✅", "🙂")
LOG_LINES = (
    "2026-03-01T22:14:05Z ERROR upstream timed out (110: Connection timed out) while reading response header",
    "2026-03-01T22:14:05Z WARN  retrying POST /api/v2/orders (attempt 3/3)",
    "Traceback (most recent call last):",
    '  File "/srv/app/sync.py", line 214, in push_stock',
    "requests.exceptions.HTTPError: 502 Server Error: Bad Gateway for url: https://api.bluehill.test/v2/stock",
)
CLIENTS = ("outlook", "gmail", "thunderbird", "apple", "webmail")
CLIENT_WEIGHTS = (40, 25, 15, 10, 10)
TZ = {"en": timezone(timedelta(hours=0)), "de": timezone(timedelta(hours=1)), "ja": timezone(timedelta(hours=9))}
ASCII_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "'": "", " ": "-"})

# --------------------------------------------------------------------------------------------------------------------
# Customers and senders
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Org:
    name: str
    domains: tuple[str, ...]
    lang: str


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    org: int | None  # index into Directory.orgs; None for free-mail senders
    lang: str
    client: str
    known: bool  # a contact before the run (the others are created by the first email)


@dataclass(frozen=True)
class Directory:
    orgs: tuple[Org, ...]
    people: tuple[Person, ...]
    activity: tuple[float, ...]  # how often each person writes in (heavy-tailed)

    def colleagues(self, person: Person) -> list[Person]:
        if person.org is None:
            return []
        return [p for p in self.people if p.org == person.org and p.email != person.email]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", text.lower().translate(ASCII_FOLD).replace("gmbh", "").strip("-")).strip("-")


def make_directory(rng: random.Random, n_orgs: int = 50, n_people: int = 300) -> Directory:
    orgs: list[Org] = []
    used_names: set[str] = set()
    used_domains: set[str] = set(FREE_MAIL)
    while len(orgs) < n_orgs:
        lang = rng.choices(("en", "de", "ja"), (60, 28, 12))[0]
        prefixes, suffixes = ORG_WORDS[lang]
        name = f"{rng.choice(prefixes)} {rng.choice(suffixes)}"
        if name in used_names:
            continue
        used_names.add(name)
        slug = _slug(name).replace("--", "-")
        domains = [f"{slug}.example"]
        if rng.random() < 0.3:
            domains.append(f"{slug.split('-')[0]}-group.example")
        domains = [d for d in domains if d not in used_domains] or [f"{slug}-{len(orgs)}.example"]
        used_domains.update(domains)
        orgs.append(Org(name, tuple(domains), lang))
    org_weight = [rng.paretovariate(2.0) for _ in orgs]
    n_free = n_people // 10
    members = list(range(n_orgs)) + rng.choices(range(n_orgs), org_weight, k=n_people - n_free - n_orgs)
    people: list[Person] = []
    used: set[str] = set()

    def person(org: int | None, lang: str, domain: str) -> Person:
        first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
        if lang == "ja":
            (first_k, first_r), (last_k, last_r) = first, last
            name, local = f"{last_k} {first_k}", f"{first_r}.{last_r}"
        else:
            name, local = f"{first} {last}", f"{_slug(first)}.{_slug(last)}"
        email_address, n = f"{local}@{domain}", 1
        while email_address in used:
            n += 1
            email_address = f"{local}{n}@{domain}"
        used.add(email_address)
        client = "gmail" if domain == "gmail.com" else rng.choices(CLIENTS, CLIENT_WEIGHTS)[0]
        known = org is not None and rng.random() < 0.75
        return Person(email_address, name, org, lang, client, known)

    for org in members:
        people.append(person(org, orgs[org].lang, rng.choice(orgs[org].domains)))
    for _ in range(n_free):
        people.append(person(None, rng.choices(("en", "de", "ja"), (60, 30, 10))[0], rng.choice(FREE_MAIL)))
    return Directory(tuple(orgs), tuple(people), tuple(rng.paretovariate(1.5) for _ in people))


# --------------------------------------------------------------------------------------------------------------------
# Text and MIME
# --------------------------------------------------------------------------------------------------------------------


def _sentences(rng: random.Random, pool: Sequence[str], lang: str, n: int) -> str:
    return ("" if lang == "ja" else " ").join(rng.sample(list(pool), min(n, len(pool))))


def _maybe_emoji(rng: random.Random, text: str, share: float = 0.08) -> str:
    return f"{text} {rng.choice(EMOJI)}" if rng.random() < share else text


def signature(person: Person, directory: Directory) -> str:
    company = directory.orgs[person.org].name if person.org is not None else ""
    return "\n".join(filter(None, [person.name, company]))


def ticket_text(rng: random.Random, person: Person, directory: Directory) -> str:
    lang = person.lang
    paragraphs = [rng.choice(GREETINGS[lang])]
    for _ in range(rng.randint(1, 4)):
        paragraphs.append(_maybe_emoji(rng, _sentences(rng, SENTENCES[lang], lang, rng.randint(2, 4))))
    if lang == "en" and rng.random() < 0.2:
        paragraphs.append("\n".join(LOG_LINES[: rng.randint(2, len(LOG_LINES))]))
    paragraphs.append(f"{rng.choice(CLOSINGS[lang])}\n{signature(person, directory)}")
    return "\n\n".join(paragraphs)


def reply_text(rng: random.Random, person: Person, directory: Directory) -> str:
    lang = person.lang
    body = _maybe_emoji(rng, _sentences(rng, FOLLOW_UPS[lang], lang, rng.randint(1, 3)))
    if rng.random() < 0.4:
        body += ("" if lang == "ja" else " ") + _sentences(rng, SENTENCES[lang], lang, rng.randint(1, 2))
    return f"{body}\n\n{rng.choice(CLOSINGS[lang])}\n{signature(person, directory)}"


def quote(rng: random.Random, parent: Node, lang: str, client: str) -> str:
    lines = parent.text.replace("\r\n", "\n").split("\n")[:60]
    if client == "outlook":
        head = f"-----Original Message-----\nFrom: {parent.author}\nSent: {format_datetime(parent.date)}\n"
        return head + f"Subject: {parent.subject}\n\n" + "\n".join(lines)
    when = parent.date.strftime("%a, %d %b %Y %H:%M")
    intro = {"en": f"On {when}, {parent.author} wrote:", "de": f"Am {when} schrieb {parent.author}:",
             "ja": f"{when} {parent.author} のメッセージ:"}[lang]  # fmt: skip
    return intro + "\n" + "\n".join(f"> {line}" if line else ">" for line in lines)


def to_html(text: str, client: str) -> str:
    """The text as the HTML a mail client would send (quoted lines in a blockquote)."""
    blocks: list[str] = []
    quoted: list[str] = []
    for line in text.split("\n"):
        if line.startswith(">"):
            quoted.append(html.escape(line[1:].strip()))
            continue
        if quoted:
            blocks.append("<blockquote style='margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex'>"
                          + "<br>".join(quoted) + "</blockquote>")  # fmt: skip
            quoted = []
        blocks.append(f"<p class=MsoNormal>{html.escape(line)}</p>" if line else "<p class=MsoNormal>&nbsp;</p>")
    if quoted:
        blocks.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")
    body = "\n".join(blocks)
    if client == "outlook":
        return (
            '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
            '<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style><!--\n'
            "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm;font-size:11.0pt;font-family:Calibri,sans-serif;}\n"
            "a:link, span.MsoHyperlink {mso-style-priority:99;color:#0563C1;text-decoration:underline;}\n"
            "span.EmailStyle17 {mso-style-type:personal-compose;font-family:Calibri,sans-serif;color:windowtext;}\n"
            "@page WordSection1 {size:612.0pt 792.0pt;margin:72.0pt 72.0pt 72.0pt 72.0pt;}\n"
            f'--></style></head><body lang=EN-GB link="#0563C1" vlink="#954F72"><div class=WordSection1>{body}'
            "</div></body></html>"
        )
    return f'<div dir="ltr">{body}</div>'


def text_encoding(rng: random.Random, text: str, lang: str, client: str) -> tuple[str, str | None]:
    """(charset, Content-Transfer-Encoding) the way the sender's client would pick them."""
    if text.isascii():
        return ("us-ascii" if client == "outlook" else "utf-8"), "7bit"
    if lang == "de" and rng.random() < 0.5:
        try:
            text.encode("iso-8859-1")
        except UnicodeEncodeError:
            pass
        else:
            return "iso-8859-1", "quoted-printable"
    if lang == "ja":
        if rng.random() < 0.35:
            try:
                text.encode("iso-2022-jp")
            except UnicodeEncodeError:
                pass
            else:
                return "iso-2022-jp", "7bit"
        return "utf-8", "base64"
    return "utf-8", ("8bit" if client in ("thunderbird", "apple") else "quoted-printable")


def attachment(rng: random.Random, lang: str) -> tuple[bytes, str, str, str]:
    size = rng.randint(20_000, 200_000)
    kind = rng.choices(("pdf", "png", "csv"), (45, 35, 20))[0]
    if kind == "csv":
        rows = ["order_id;sku;qty;unit_price;warehouse"]
        while sum(len(r) + 1 for r in rows) < size:
            rows.append(f"{rng.randint(10**6, 10**7)};SKU-{rng.randint(1000, 9999)};{rng.randint(1, 40)};"
                        f"{rng.randint(100, 99999) / 100:.2f};{rng.choice(['HAM', 'MUC', 'OSA', 'LON'])}")  # fmt: skip
        names = {"en": "stock-export.csv", "de": "Bestandsliste_März.csv", "ja": "在庫一覧.csv"}
        return "\n".join(rows).encode(), "text", "csv", names[lang]
    if kind == "pdf":
        names = {"en": f"invoice_{rng.randint(1000, 9999)}.pdf", "de": f"Rechnung_März_{rng.randint(1000, 9999)}.pdf",
                 "ja": f"請求書_{rng.randint(1000, 9999)}.pdf"}  # fmt: skip
        return b"%PDF-1.7\n" + rng.randbytes(size), "application", "pdf", names[lang]
    names = {"en": "screenshot-2026-03-02.png", "de": "Bildschirmfoto 2026-03-02 um 10.15.png",
             "ja": "スクリーンショット.png"}  # fmt: skip
    return b"\x89PNG\r\n\x1a\n" + rng.randbytes(size), "image", "png", names[lang]


def mime_body(rng: random.Random, text: str, fmt: str, person: Person, with_attachment: bool) -> bytes:
    """MIME-Version, Content-* headers and the body, CRLF line endings, deterministic boundaries."""
    msg = EmailMessage()
    if fmt == "html":
        msg.set_content(to_html(text, person.client), subtype="html", charset="utf-8", cte="quoted-printable")
    else:
        charset, cte = text_encoding(rng, text, person.lang, person.client)
        msg.set_content(text, charset=charset, cte=cte)
        if fmt == "alternative":
            msg.add_alternative(to_html(text, person.client), subtype="html", charset="utf-8", cte="quoted-printable")
    if with_attachment:
        data, maintype, subtype, filename = attachment(rng, person.lang)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
        if part.is_multipart():
            part.set_boundary(f"----=_Part_{rng.getrandbits(64):016x}")
    return msg.as_bytes(policy=email.policy.SMTP)


def encode_header(value: str, charset: str = "utf-8") -> str:
    if value.isascii():
        return value
    try:
        value.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    return Header(value, charset).encode(linesep="\r\n")


def new_message_id(rng: random.Random, person: Person) -> str:
    domain = person.email.rpartition("@")[2]
    if person.client == "outlook":
        site = rng.choice(["AM", "DB", "VI", "PA"])
        box = f"{site}{rng.randint(0, 9)}PR0{rng.randint(1, 9)}MB{rng.randint(1000, 9999)}"
        return f"{box}{rng.getrandbits(64):016X}@{box}.eurprd0{rng.randint(1, 9)}.prod.outlook.com"
    if person.client == "gmail":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_-="
        return "CA" + "".join(rng.choice(alphabet) for _ in range(46)) + "@mail.gmail.com"
    raw = f"{rng.getrandbits(128):032x}"
    if person.client == "apple":
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}".upper() + f"@{domain}"
    if person.client == "thunderbird":
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}@{domain}"
    return f"{raw}@{domain}"


def fold_ids(ids: Sequence[str], style: str) -> str:
    if style == "comma":
        return ",".join(f"<{i}>" for i in ids)
    if style == "line":
        return " ".join(f"<{i}>" for i in ids)
    return "\r\n ".join(f"<{i}>" for i in ids)


def envelope_headers(rng: random.Random, person: Person, date: datetime) -> list[str]:
    domain = person.email.rpartition("@")[2]
    stamp = format_datetime(date.astimezone(UTC))
    ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    mx = f"mail{rng.randint(1, 4)}.{domain}"
    lines = [
        f"Return-Path: <{person.email}>",
        f"Received: from {mx} ({mx} [{ip}])\r\n\tby mx1.bluehill.test (Postfix) with ESMTPS id "
        f"{rng.getrandbits(40):010X}\r\n\tfor <{SUPPORT}>; {stamp}",
        f"Received: from [10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}] by {mx} with "
        f"ESMTPSA id {rng.getrandbits(48):012x}; {stamp}",
    ]
    if person.org is not None or person.client == "gmail":
        b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        sig = "".join(rng.choice(b64) for _ in range(344))
        body_hash = "".join(rng.choice(b64) for _ in range(43))
        lines.append(
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=selector1;\r\n\t"
            f"h=From:Date:Subject:Message-ID:Content-Type:MIME-Version; bh={body_hash}=;\r\n\t"
            f"b={sig[:70]}\r\n\t {sig[70:140]}\r\n\t {sig[140:210]}\r\n\t {sig[210:280]}\r\n\t {sig[280:]}=="
        )
    return lines


def client_headers(rng: random.Random, person: Person) -> list[str]:
    if person.client == "outlook":
        lang = {"en": "en-GB", "de": "de-DE", "ja": "ja-JP"}[person.lang]
        return [f"Thread-Index: AQH{rng.getrandbits(96):024x}", "X-MS-Has-Attach:", "X-MS-TNEF-Correlator:",
                f"Content-Language: {lang}", "X-MS-Exchange-Organization-SCL: 1"]  # fmt: skip
    if person.client == "thunderbird":
        return ["User-Agent: Mozilla Thunderbird", f"Content-Language: {person.lang}"]
    if person.client == "apple":
        return ["X-Mailer: Apple Mail (2.3774.500.171.1.1)"]
    if person.client == "webmail":
        return ["User-Agent: Roundcube Webmail/1.6.9"]
    return []


def build_mail(
    rng: random.Random, person: Person, *, to: str, subject: str, date: datetime, message_id: str, text: str,
    cc: Sequence[str] = (), in_reply_to: str | None = None, references: str | None = None,
    extra: Sequence[str] = (), fmt: str | None = None, with_attachment: bool | None = None,
) -> bytes:  # fmt: skip
    if fmt is None:
        fmt = rng.choices(("plain", "alternative", "html"), (50, 45, 5))[0]
    if with_attachment is None:
        with_attachment = rng.random() < 0.10
    local = date.astimezone(TZ[person.lang])
    charset = "iso-8859-1" if person.lang == "de" and rng.random() < 0.3 else "utf-8"
    lines = envelope_headers(rng, person, local)
    lines.append(f"From: {formataddr((person.name, person.email), charset='utf-8')}")
    lines.append(f"To: {to}")
    if cc:
        lines.append(f"Cc: {', '.join(cc)}")
    lines.append(f"Subject: {encode_header(subject, charset)}")
    lines.append(f"Date: {format_datetime(local)}")
    lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    lines.extend(client_headers(rng, person))
    lines.extend(extra)
    head = ("\r\n".join(lines) + "\r\n").encode("ascii")
    return head + mime_body(rng, text, fmt, person, with_attachment)


# --------------------------------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    cls: str
    message_id: str
    raw: bytes
    target: int | None = None  # the wave-1 index of the ticket it belongs to (None: no ticket)
    expect: str = ""  # the exact outcome text that means "threaded by the intended mechanism"
    sender: int = -1  # index into Directory.people (wave 1)
    subject: str = ""
    text: str = ""
    date: datetime = BASE_DATE


@dataclass(frozen=True)
class Ack:
    outbound_id: int | None
    message_id: str
    reply_to: str
    subject: str
    body_text: str
    to: str


@dataclass(frozen=True)
class Thread:
    ticket_id: int
    ack: Ack | None


@dataclass(frozen=True)
class Node:
    """A message of a conversation that the customer may answer."""

    message_id: str
    refs: tuple[str, ...]  # a reply's References are refs + (message_id,)
    subject: str
    text: str
    author: str
    date: datetime


@dataclass(frozen=True)
class Wave2:
    mails: list[Mail]
    auto_targets: list[int]  # wave-1 indexes whose tickets wait on the customer before wave 2


def plan_counts(n: int) -> dict[str, int]:
    counts = {cls: max(1, round(share * n)) for cls, share in SHARES.items() if cls != "in_reply_to"}
    counts["in_reply_to"] = n - sum(counts.values())
    return counts


def generate_wave1(seed: int, directory: Directory, n: int) -> list[Mail]:
    rng = random.Random(f"{seed}-wave1")
    senders = rng.choices(range(len(directory.people)), directory.activity, k=n)
    mails = []
    for i, who in enumerate(senders):
        person = directory.people[who]
        subject = rng.choice(SUBJECTS[person.lang]).format(n=rng.randint(10_000, 99_999))
        subject = _maybe_emoji(rng, subject, 0.05)
        text = ticket_text(rng, person, directory)
        date = BASE_DATE + timedelta(minutes=3 * i, seconds=rng.randint(0, 170))
        message_id = new_message_id(rng, person)
        cc = []
        colleagues = directory.colleagues(person)
        if colleagues and rng.random() < 0.1:
            cc.append(rng.choice(colleagues).email)
        raw = build_mail(rng, person, to=SUPPORT, subject=subject, date=date, message_id=message_id, text=text, cc=cc)
        mails.append(Mail("new", message_id, raw, i, "new ticket", who, subject, text, date))
    return mails


def token_secret() -> str:
    # The derivation of ticketing.extensions.mail_policy(), for predicting the Reply-To addresses.
    return hmac.new(APP_KEY.encode(), b"mail-token", hashlib.sha256).hexdigest()


def ticket_subject(mail: Mail) -> str:
    return " ".join(mail.subject.split())[:300] or "(no subject)"


def predict_threads(seed: int, directory: Directory, wave1: list[Mail]) -> list[Thread]:
    """What wave 1 will leave in a fresh database: tickets 1..n in order, an acknowledgement unless rate-limited."""
    rng = random.Random(f"{seed}-acks")
    sent: Counter[str] = Counter()
    threads = []
    secret = token_secret()
    for i, mail in enumerate(wave1):
        ticket_id = i + 1
        person = directory.people[mail.sender]
        sent[person.email] += 1
        if sent[person.email] > ACK_LIMIT:
            threads.append(Thread(ticket_id, None))
            continue
        subject = ticket_subject(mail)
        text, _ = render("received", name=person.name or "there", ticket_id=ticket_id, subject=subject,
                         product_name=PRODUCT, portal_url=f"{BASE_URL}/tickets/{ticket_id}")  # fmt: skip
        ack = Ack(
            None, f"t{ticket_id}.{rng.getrandbits(96):024x}@bluehill.test",
            mail_tokens.reply_address(SUPPORT, ticket_id, secret),
            one_line(mail_tokens.subject_with_token(subject, ticket_id), 400), text, person.email,
        )  # fmt: skip
        threads.append(Thread(ticket_id, ack))
    return threads


def bounce_mail(rng: random.Random, ack: Ack, first_id: str, date: datetime, message_id: str) -> bytes:
    domain = ack.to.rpartition("@")[2]
    mx = f"mx{rng.randint(1, 4)}.{domain}"
    stamp = format_datetime(date)
    queue_id = f"{rng.getrandbits(40):010X}"
    boundary = f"{queue_id}.{rng.randrange(10**9)}/{mx}"
    exchange = rng.random() < 0.3
    original = (
        f"Return-Path: <{SUPPORT}>\r\nFrom: {PRODUCT} <{SUPPORT}>\r\nTo: {ack.to}\r\n"
        f"Reply-To: {ack.reply_to}\r\nSubject: {encode_header(ack.subject)}\r\n"
        f"Message-ID: <{ack.message_id}>\r\nIn-Reply-To: <{first_id}>\r\nReferences: <{first_id}>\r\n"
        f"Date: {format_datetime(date - timedelta(minutes=2))}\r\nAuto-Submitted: auto-generated\r\n"
        "X-Auto-Response-Suppress: All\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n'
    )
    if exchange or rng.random() < 0.5:
        body = quopri.encodestring(ack.body_text.encode()).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        returned = f"Content-Type: message/rfc822\r\n\r\n{original}\r\n".encode() + body
    else:
        returned = f"Content-Type: text/rfc822-headers\r\n\r\n{original}".encode()
    if exchange:
        sender, subject = f"postmaster@{domain}", f"Undeliverable: {ack.subject}"
        human = (f"Your message to {ack.to} couldn't be delivered.\r\n\r\n{ack.to.partition('@')[0]} wasn't found "
                 f"at {domain}.\r\n\r\nRemote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; "
                 "Recipient not found by SMTP address lookup'\r\n")  # fmt: skip
    else:
        sender, subject = f"MAILER-DAEMON@{mx}", "Undelivered Mail Returned to Sender"
        human = (f"This is the mail system at host {mx}.\r\n\r\nI'm sorry to have to inform you that your message "
                 "could not\r\nbe delivered to one or more recipients. It's attached below.\r\n\r\n"
                 f"<{ack.to}>: host {mx}[10.0.0.{rng.randint(2, 250)}] said: 550 5.1.1\r\n    <{ack.to}>: Recipient "
                 "address rejected: User unknown in virtual mailbox table\r\n")  # fmt: skip
    status = (
        f"Reporting-MTA: dns; {mx}\r\nX-Postfix-Queue-ID: {queue_id}\r\nArrival-Date: {stamp}\r\n\r\n"
        f"Final-Recipient: rfc822; {ack.to}\r\nOriginal-Recipient: rfc822;{ack.to}\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\nRemote-MTA: dns; {mx}\r\nDiagnostic-Code: smtp; 550 5.1.1 <{ack.to}>: Recipient address "
        "rejected: User unknown in virtual mailbox table\r\n"
    )
    head = (
        f"Return-Path: <>\r\nReceived: by {mx} (Postfix)\r\n\tid {queue_id}; {stamp}\r\n"
        f"Date: {stamp}\r\nFrom: Mail Delivery System <{sender}>\r\nSubject: {encode_header(subject)}\r\n"
        f"To: {SUPPORT}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"\r\n'
        f"Content-Transfer-Encoding: 8bit\r\nMessage-Id: <{message_id}>\r\n\r\n"
        "This is a MIME-encapsulated message.\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"{human}\r\n--{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status"
        f"\r\n\r\n{status}\r\n--{boundary}\r\nContent-Description: Undelivered Message\r\n"
    )
    return head.encode() + returned + f"\r\n--{boundary}--\r\n".encode()


def strip_prefixes(subject: str) -> str:
    return re.sub(r"^(?:(?:re|aw|fwd?|wg)\s*:\s*)+", "", subject, flags=re.I)


def generate_wave2(
    seed: int, directory: Directory, wave1: list[Mail], threads: list[Thread], counts: dict[str, int]
) -> Wave2:
    """Replies of every class, auto-replies and bounces, naming what wave 1 left in the database."""
    rng = random.Random(f"{seed}-wave2")
    counts = dict(counts)
    n1 = len(wave1)
    with_ack = [i for i in range(n1) if threads[i].ack is not None]
    auto_targets = rng.sample(with_ack, min(counts["auto_reply_on_thread"], len(with_ack) // 4))
    bounce_targets = rng.sample(with_ack, min(counts["bounce"], len(with_ack)))
    excluded = set(auto_targets)
    human_pool = [i for i in range(n1) if i not in excluded]
    ack_pool = [i for i in human_pool if threads[i].ack is not None]
    overflow = counts["auto_reply_on_thread"] - len(auto_targets) + counts["bounce"] - len(bounce_targets)
    if not ack_pool:
        overflow, counts["reply_address_token"] = overflow + counts["reply_address_token"], 0
    counts["in_reply_to"] += overflow
    weight = [rng.expovariate(1.0) for _ in range(n1)]
    items: list[tuple[float, str, int]] = []
    for cls in HUMAN:
        pool = ack_pool if cls == "reply_address_token" else human_pool
        for target in rng.choices(pool, [weight[i] for i in pool], k=counts[cls]):
            items.append((rng.random(), cls, target))
    items += [(rng.random(), "auto_reply_on_thread", t) for t in auto_targets]
    items += [(rng.random(), "bounce", t) for t in bounce_targets]
    items += [(rng.random(), "foreign_sender", rng.randrange(n1)) for _ in range(counts["foreign_sender"])]
    items += [(rng.random(), "auto_reply_unthreaded", -1) for _ in range(counts["auto_reply_unthreaded"])]
    items.sort()

    last: dict[int, Node] = {}  # the customer's latest message on each ticket
    mails: list[Mail] = []
    start = BASE_DATE + timedelta(days=2)

    def first_node(t: int) -> Node:
        mail, person = wave1[t], directory.people[wave1[t].sender]
        return Node(mail.message_id, (), mail.subject, mail.text, formataddr((person.name, person.email)), mail.date)

    def ack_node(t: int) -> Node:
        ack = threads[t].ack
        assert ack is not None
        return Node(ack.message_id, (wave1[t].message_id,), ack.subject, ack.body_text, f"{PRODUCT} <{SUPPORT}>",
                    wave1[t].date + timedelta(minutes=1))  # fmt: skip

    for position, (_, cls, t) in enumerate(items):
        date = start + timedelta(minutes=2 * position, seconds=rng.randint(0, 110))
        if cls == "auto_reply_unthreaded":
            if rng.random() < 0.5:
                person = rng.choice(directory.people)
            else:
                word = rng.choice(("messe", "newsletter", "events", "partner", "hr"))
                person = Person(f"{word}{rng.randint(1, 99)}@{word}-{rng.randint(100, 999)}.example", "", None,
                                "en", "webmail", False)  # fmt: skip
            message_id = new_message_id(rng, person)
            subject = f"{AUTO_PREFIX[person.lang]} {rng.choice(['Out of office', 'Newsletter März', 'Urlaub'])}"
            text = OUT_OF_OFFICE[person.lang].format(day="16.03.2026", n=rng.randint(0, 999))
            raw = build_mail(rng, person, to=SUPPORT, subject=subject, date=date, message_id=message_id, text=text,
                             extra=["Auto-Submitted: auto-replied"], fmt="plain", with_attachment=False)  # fmt: skip
            mails.append(Mail(cls, message_id, raw, None, "automatic message with no ticket of the sender"))
            continue
        thread = threads[t]
        ticket_id = thread.ticket_id
        owner = directory.people[wave1[t].sender]
        if cls == "bounce":
            assert thread.ack is not None
            message_id = f"{date:%Y%m%d%H%M%S}.{rng.getrandbits(40):010X}@mx.{owner.email.rpartition('@')[2]}"
            raw = bounce_mail(rng, thread.ack, wave1[t].message_id, date, message_id)
            mails.append(Mail(cls, message_id, raw, t, f"bounce linked to outbound #{thread.ack.outbound_id}"))
            continue
        if cls == "auto_reply_on_thread":
            assert thread.ack is not None
            message_id = new_message_id(rng, owner)
            subject = f"{AUTO_PREFIX[owner.lang]} {thread.ack.subject}"
            text = OUT_OF_OFFICE[owner.lang].format(day="16.03.2026", n=rng.randint(0, 999))
            marker = rng.choices(("Auto-Submitted: auto-replied", "X-Autoreply: yes", "Precedence: junk"),
                                 (60, 25, 15))[0]  # fmt: skip
            extra = [marker, "X-Auto-Response-Suppress: All"] if owner.client == "outlook" else [marker]
            by_headers = rng.random() < 0.75
            raw = build_mail(
                rng, owner, to=SUPPORT, subject=subject, date=date, message_id=message_id, text=text, extra=extra,
                in_reply_to=f"<{thread.ack.message_id}>" if by_headers else None,
                references=fold_ids([wave1[t].message_id, thread.ack.message_id], "fold") if by_headers else None,
                fmt=rng.choice(("plain", "alternative")), with_attachment=False,
            )  # fmt: skip
            how = "thread headers" if by_headers else "subject token"
            mails.append(Mail(cls, message_id, raw, t, f"automatic reply appended ({how})"))
            continue
        if cls == "foreign_sender":
            strangers = [p for p in directory.people if p.org is not None and p.org != owner.org]
            person = rng.choice(strangers)
            parent = first_node(t)
            message_id = new_message_id(rng, person)
            text = reply_text(rng, person, directory) + "\n\n" + quote(rng, parent, person.lang, person.client)
            raw = build_mail(
                rng, person, to=SUPPORT, subject=f"{REPLY_PREFIX[person.lang]} {strip_prefixes(parent.subject)}",
                date=date, message_id=message_id, text=text, in_reply_to=f"<{parent.message_id}>",
                references=fold_ids([parent.message_id], "fold"),
            )  # fmt: skip
            mails.append(Mail(cls, message_id, raw, t, f"new ticket: sender not on #{ticket_id}"))
            continue

        # A customer's reply (the ticket's sender, sometimes a colleague at the same customer).
        parent = last.get(t)
        if parent is None:
            parent = ack_node(t) if thread.ack is not None and rng.random() < 0.6 else first_node(t)
        colleagues = directory.colleagues(owner)
        person = rng.choice(colleagues) if colleagues and rng.random() < 0.2 else owner
        base = strip_prefixes(parent.subject)
        if cls in ("subject_token", "reply_address_token") and mail_tokens.subject_token(ticket_id) not in base:
            base = mail_tokens.subject_with_token(base, ticket_id)
        subject = f"{REPLY_PREFIX[person.lang]} {base}"
        message_id = new_message_id(rng, person)
        text = reply_text(rng, person, directory)
        if rng.random() < 0.85:
            text += "\n\n" + quote(rng, parent, person.lang, person.client)
        chain = (*parent.refs, parent.message_id)[-20:]
        in_reply_to = references = None
        to = SUPPORT
        if cls == "in_reply_to":
            in_reply_to = f"<{parent.message_id}>"
            if rng.random() < 0.15:
                in_reply_to += f" (message from {parent.date:%d %b %Y %H:%M})"
            style = rng.choices(("fold", "none", "line"), (70, 15, 15))[0]
            references = None if style == "none" else fold_ids(chain, style)
            if thread.ack is not None and parent.message_id == thread.ack.message_id and rng.random() < 0.7:
                to = thread.ack.reply_to  # answered the acknowledgement: its Reply-To
        elif cls == "references_only":
            references = fold_ids(chain, rng.choices(("fold", "comma", "line"), (60, 20, 20))[0])
        elif cls == "reply_address_token":
            assert thread.ack is not None
            to = thread.ack.reply_to
        raw = build_mail(rng, person, to=to, subject=subject, date=date, message_id=message_id, text=text,
                         in_reply_to=in_reply_to, references=references)  # fmt: skip
        how = MECHANISM.get(cls, "thread headers")
        mails.append(Mail(cls, message_id, raw, t, f"appended ({how})"))
        author = formataddr((person.name, person.email))
        last[t] = Node(message_id, chain, subject, text, author, date)
    return Wave2(mails, auto_targets)


# --------------------------------------------------------------------------------------------------------------------
# Parse-only baseline
# --------------------------------------------------------------------------------------------------------------------


def stdlib_parse(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    return body.get_content() if body is not None else ""


def parse_rate(raws: Sequence[bytes], parse: Callable[[bytes], Any], runs: int) -> list[float]:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for raw in raws:
            parse(raw)
        rates.append(len(raws) / (time.perf_counter() - start))
    return rates


# --------------------------------------------------------------------------------------------------------------------
# Databases, app, worker
# --------------------------------------------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, pg_url: str, tmp: Path, label: str) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp / f"{label}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in tmp.glob(f"{label}.db*"):
                leftover.unlink()
        return
    base = sa.make_url(pg_url)
    name = f"bench_ingest_{os.getpid()}_{label}"
    url = create_pg_database(base, name)
    try:
        yield url
    finally:
        drop_pg_database(base, name)


@dataclass(frozen=True)
class Settings:
    url: str
    attachments: Path
    smtp_url: str

    def app_config(self) -> dict[str, Any]:
        return {
            "SQLALCHEMY_DATABASE_URI": self.url, "REDIS_URL": REDIS_URL, "RQ_QUEUE": QUEUE, "MAIL_FROM": SUPPORT,
            "SECRET_KEY": APP_KEY, "ATTACHMENT_DIR": str(self.attachments), "SMTP_URL": self.smtp_url,
            "PRODUCT_NAME": PRODUCT, "BASE_URL": BASE_URL, "ACK_LIMIT_PER_HOUR": ACK_LIMIT,
        }  # fmt: skip

    def worker_env(self) -> dict[str, str]:
        env = {key: str(value) for key, value in self.app_config().items()}
        env["DATABASE_URL"] = env.pop("SQLALCHEMY_DATABASE_URI")
        return {**os.environ, **env}


def redis() -> Redis:
    return Redis.from_url(REDIS_URL)


def flush_redis() -> None:
    conn = redis()
    try:
        conn.flushdb()
    finally:
        conn.close()


def run_burst(settings: Settings, log: Path) -> float:
    start = time.perf_counter()
    with log.open("ab") as out:
        done = subprocess.run([sys.executable, "worker.py", "burst"], cwd=ROOT, env=settings.worker_env(),
                              stdout=out, stderr=subprocess.STDOUT, timeout=3600, check=False)  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"worker.py burst exited with {done.returncode}:\n{tail}")
    return seconds


@dataclass
class JobStats:
    per_func: dict[str, tuple[int, float]]  # function -> (jobs, seconds inside the jobs)
    last_processing_end: datetime | None
    processing_failed: int


def queues(conn: Redis) -> list[Queue]:
    """The worker's queues: inbound processing (taken first) and the rest (the acknowledgements' send jobs)."""
    return [Queue(inbound_queue_name(QUEUE), connection=conn), Queue(QUEUE, connection=conn)]


def job_stats() -> JobStats:
    conn = redis()
    try:
        ids: set[str] = set()
        for queue in queues(conn):
            ids.update(queue.job_ids)
            for registry in (queue.finished_job_registry, queue.failed_job_registry, queue.scheduled_job_registry):
                ids.update(registry.get_job_ids())
        found = [job for job in Job.fetch_many(sorted(ids), connection=conn) if job is not None]
    finally:
        conn.close()
    per_func: dict[str, tuple[int, float]] = {}
    last: datetime | None = None
    failed = 0
    for job in found:
        name = (job.func_name or "?").rpartition(".")[2]
        seconds = (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else 0.0
        count, total = per_func.get(name, (0, 0.0))
        per_func[name] = (count + 1, total + seconds)
        if name.startswith("process_inbound"):
            status = job.get_status()
            if status is not None and str(status.value if hasattr(status, "value") else status) != "finished":
                failed += 1
            if job.ended_at and (last is None or job.ended_at > last):
                last = job.ended_at
    return JobStats(per_func, last, failed)


# --------------------------------------------------------------------------------------------------------------------
# One run: seed, wave 1, read back, wave 2, check
# --------------------------------------------------------------------------------------------------------------------


def seed_directory(session: Session, directory: Directory) -> None:
    customers = [
        Customer(name=org.name, domains=[CustomerDomain(domain=domain) for domain in org.domains])
        for org in directory.orgs
    ]
    session.add_all(customers)
    for person in directory.people:
        if person.known and person.org is not None:
            session.add(Contact(email=person.email, name=person.name, customer=customers[person.org]))
    session.commit()


@dataclass
class WaveResult:
    name: str
    messages: int
    store_s: float
    worker_s: float | None  # worker mode: the burst worker's wall time
    processed_s: float  # first store -> the last processing job committed
    total_s: float  # first store -> worker exit (in-process: = processed_s)
    jobs: dict[str, tuple[int, float]] = field(default_factory=dict)
    failed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.messages / self.processed_s


@dataclass
class Accuracy:
    right: int = 0  # on the right ticket (or correctly no ticket), with the expected side effects
    exact: int = 0  # ... and by the intended mechanism (the outcome text)
    total: int = 0
    misses: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    mode: str
    waves: list[WaveResult]
    accuracy: dict[str, Accuracy]
    wave2_tickets: int
    wave2_tickets_expected: int
    wave2_bytes: int
    startup_s: list[float] = field(default_factory=list)
    profile: str = ""

    @property
    def messages(self) -> int:
        return sum(w.messages for w in self.waves)

    @property
    def rate(self) -> float:
        return self.messages / sum(w.processed_s for w in self.waves)

    @property
    def rate_exit(self) -> float:
        return self.messages / sum(w.total_s for w in self.waves)


_NUMBER = re.compile(r"#\d+")


def outcomes(session: Session, mails: Sequence[Mail]) -> Counter[str]:
    keys = {m.message_id for m in mails}
    rows = session.execute(sa.select(InboundMessage.message_key, InboundMessage.status, InboundMessage.outcome))
    counter: Counter[str] = Counter(
        f"{status}: {_NUMBER.sub('#n', outcome or '-')}" for key, status, outcome in rows if key in keys
    )
    session.commit()
    return counter


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """A long-running `python worker.py`, as in production; returns once it has registered with Redis."""
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=settings.worker_env(), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    conn = redis()
    try:
        deadline = time.monotonic() + 120
        # Its own registration (by pid): a stray worker on the same queue must not count as ready.
        while not any(w.pid == proc.pid for w in Worker.all(connection=conn)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker.py did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.05)
    finally:
        conn.close()
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)  # RQ's warm shutdown: it finishes the job in hand (there is none left)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_drained(session: Session, keys: set[str]) -> None:
    """Until every message of the wave is processed and the queue (incl. the send jobs) is empty."""
    conn = redis()
    try:
        both = queues(conn)
        while True:
            pending = session.scalar(
                sa.select(sa.func.count()).where(
                    InboundMessage.status == InboundStatus.RECEIVED, InboundMessage.message_key.in_(keys)
                )
            )
            session.rollback()
            if not pending and all(q.count == 0 and q.started_job_registry.count == 0 for q in both):
                return
            time.sleep(0.02)
    finally:
        conn.close()


def ingest_worker(name: str, mails: Sequence[Mail], settings: Settings, batch: int, log: Path) -> WaveResult:
    worker = start_worker(settings, log)
    session = db.session
    try:
        started_wall = time.time()
        start = time.perf_counter()
        for first in range(0, len(mails), batch):
            raws = [mail.raw for mail in mails[first : first + batch]]
            mail_inbound.store_many(session, raws, source="imap", now=utcnow())  # as the IMAP poller stores a batch
            session.commit()  # enqueues one processing job for this batch; the worker starts on it at once
        store_s = time.perf_counter() - start
        wait_drained(session, {m.message_id for m in mails})
        total_s = time.perf_counter() - start
    finally:
        db.session.remove()
        stop_worker(worker)
    stats = job_stats()
    end = stats.last_processing_end
    processed_s = end.timestamp() - started_wall if end is not None else total_s
    return WaveResult(name, len(mails), store_s, total_s, processed_s, total_s, stats.per_func, stats.processing_failed)


def ingest_inline(name: str, mails: Sequence[Mail], profiler: cProfile.Profile | None) -> WaveResult:
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    summary = importer.import_messages(db.session, ((m.message_id, m.raw) for m in mails), inline=True)
    failed = summary.failed
    seconds = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
    db.session.remove()
    return WaveResult(name, len(mails), seconds, None, seconds, seconds, failed=failed)


def read_threads(session: Session, wave1: Sequence[Mail]) -> list[Thread]:
    tickets = {key: ticket_id for key, ticket_id in session.execute(sa.select(InboundMessage.message_key,
                                                                              InboundMessage.ticket_id))}  # fmt: skip
    acks: dict[int, Ack] = {}
    rows = session.execute(
        sa.select(OutboundMessage.ticket_id, OutboundMessage.id, OutboundMessage.message_id, OutboundMessage.reply_to,
                  OutboundMessage.subject, OutboundMessage.body_text, OutboundMessage.to_address)
        .where(OutboundMessage.kind == OutboundKind.RECEIVED)
        .order_by(OutboundMessage.id)
    )  # fmt: skip
    for ticket_id, outbound_id, message_id, reply_to, subject, body, to in rows:
        acks.setdefault(ticket_id, Ack(outbound_id, message_id, reply_to or "", subject, body, to))
    session.commit()
    threads = []
    for mail in wave1:
        ticket_id = tickets.get(mail.message_id)
        if ticket_id is None:
            raise SystemExit(f"wave 1 message {mail.message_id} did not open a ticket")
        threads.append(Thread(ticket_id, acks.get(ticket_id)))
    return threads


def wait_on_customer(session: Session, threads: Sequence[Thread], targets: Sequence[int]) -> None:
    """An agent asked the customer something on these tickets: an auto-reply must not reopen them."""
    now = utcnow()
    for t in targets:
        ticket = session.get_one(Ticket, threads[t].ticket_id)
        ticket_service.change_status(session, ticket, Status.WAITING_ON_CUSTOMER, actor=None, now=now)
    session.commit()


def check(session: Session, wave2: Wave2, threads: Sequence[Thread]) -> dict[str, Accuracy]:
    rows = {
        key: (status, outcome or "", ticket_id)
        for key, status, outcome, ticket_id in session.execute(
            sa.select(InboundMessage.message_key, InboundMessage.status, InboundMessage.outcome,
                      InboundMessage.ticket_id)
        )
    }  # fmt: skip
    outbound = {row_id: status for row_id, status in session.execute(sa.select(OutboundMessage.id,
                                                                               OutboundMessage.status))}  # fmt: skip
    statuses = {row_id: status for row_id, status in session.execute(sa.select(Ticket.id, Ticket.status))}
    session.commit()
    result = {cls: Accuracy() for cls in CLASSES}
    for mail in wave2.mails:
        acc = result[mail.cls]
        acc.total += 1
        status, outcome, ticket_id = rows.get(mail.message_id, ("missing", "not stored", None))
        expected = threads[mail.target].ticket_id if mail.target is not None else None
        if mail.cls in HUMAN:
            right = ticket_id == expected
        elif mail.cls == "auto_reply_on_thread":
            right = (ticket_id == expected and outcome.startswith("automatic reply appended")
                     and statuses.get(expected) == Status.WAITING_ON_CUSTOMER)  # fmt: skip
        elif mail.cls == "auto_reply_unthreaded":
            right = ticket_id is None and status == "ignored"
        elif mail.cls == "bounce":
            ack = threads[mail.target].ack if mail.target is not None else None
            right = (ack is not None and ticket_id == expected and outbound.get(ack.outbound_id) == "bounced"
                     and outcome == mail.expect)  # fmt: skip
        else:  # foreign_sender
            right = ticket_id not in (None, expected) and outcome == mail.expect
        exact = right and outcome == mail.expect
        acc.right += right
        acc.exact += exact
        if not exact and len(acc.misses) < 3:
            state = f", ticket now {statuses.get(expected)}" if mail.cls == "auto_reply_on_thread" else ""
            acc.misses.append(
                f"<{mail.message_id}> expected ticket {expected} / {mail.expect!r}; got {status} ticket {ticket_id} "
                f"/ {outcome!r}{state}"
            )
    return result


def run_mode(
    backend: str, mode: str, args: argparse.Namespace, tmp: Path, directory: Directory, wave1: list[Mail],
    counts: dict[str, int],
) -> RunResult:  # fmt: skip
    label = f"{backend}_{mode}"
    with fresh_database(backend, args.pg_url, tmp, label) as url:
        smtp_url = args.smtp_url if args.smtp_url is not None else f"file://{tmp / f'outbox_{label}'}"
        settings = Settings(url, tmp / f"attachments_{label}", smtp_url)
        log = tmp / f"worker_{label}.log"
        app: Flask = create_app(settings.app_config())
        profiler = cProfile.Profile() if mode == "in-process" and args.profile else None
        with app.app_context():
            db.create_all()
            benchkit.add_search_indexes(db.engine)  # SQLite: the FTS5 triggers every stored message feeds
            seed_directory(db.session, directory)
            db.session.remove()
            flush_redis()
            startup: list[float] = []
            if mode == "worker":
                startup = [run_burst(settings, log) for _ in range(args.startup_runs)]
            print(f"[{backend}/{mode}] wave 1: {len(wave1):,} messages ...", flush=True)
            if mode == "worker":
                w1 = ingest_worker("wave 1", wave1, settings, args.batch, log)
            else:
                w1 = ingest_inline("wave 1", wave1, profiler)
            w1.outcomes = outcomes(db.session, wave1)
            threads = read_threads(db.session, wave1)
            wave2 = generate_wave2(args.seed, directory, wave1, threads, counts)
            wait_on_customer(db.session, threads, wave2.auto_targets)
            tickets_before = db.session.scalar(sa.select(sa.func.max(Ticket.id))) or 0
            db.session.remove()
            flush_redis()  # the acknowledgement send jobs (in-process) and RQ's job records of wave 1
            print(f"[{backend}/{mode}] wave 2: {len(wave2.mails):,} messages ...", flush=True)
            if mode == "worker":
                w2 = ingest_worker("wave 2", wave2.mails, settings, args.batch, log)
            else:
                w2 = ingest_inline("wave 2", wave2.mails, profiler)
            w2.outcomes = outcomes(db.session, wave2.mails)
            accuracy = check(db.session, wave2, threads)
            created = db.session.scalar(sa.select(sa.func.count()).where(Ticket.id > tickets_before)) or 0
            db.session.remove()
            db.engine.dispose()
        flush_redis()
    profile = ""
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("cumulative").print_stats(r"/ticketing/", 40)
        stats.sort_stats("tottime").print_stats(25)
        profile = out.getvalue()
        if args.profile_out:
            target = Path(f"{args.profile_out}.{backend}")
            profiler.dump_stats(target)
            profile += f"raw profile written to {target}\n"
    return RunResult(
        mode=mode, waves=[w1, w2], accuracy=accuracy, wave2_tickets=created,
        wave2_tickets_expected=sum(1 for m in wave2.mails if m.cls == "foreign_sender"),
        wave2_bytes=sum(len(m.raw) for m in wave2.mails), startup_s=startup, profile=profile,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------------------------


def machine(pg_url: str | None) -> list[str]:
    lines = [benchkit.hardware_line(), benchkit.software_line()]
    if pg_url is not None:
        lines += benchkit.pg_server_lines(pg_url)
    conn = redis()
    try:
        lines.append(f"Redis server {conn.info('server').get('redis_version')} ({REDIS_URL})")
        lines.append(f"load average at start: {load_average()}")
    finally:
        conn.close()
    return lines


def load_average() -> str:
    try:
        return benchkit.load_average() + " (1/5/15 min; other work on the machine skews timings)"
    except OSError:
        return "unknown"


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def bracket_baseline(corpus: Sequence[bytes], runs: int, before: list[float]) -> float:
    """The baseline for one backend: the median of the runs just before its runs and of as many just after."""
    after = parse_rate(corpus, stdlib_parse, runs)
    print(
        f"parse-only baseline around these runs: median {statistics.median(before + after):,.1f} msg/s   "
        f"before: {' '.join(f'{r:,.1f}' for r in before)}   after: {' '.join(f'{r:,.1f}' for r in after)}"
    )
    return statistics.median(before + after)


def report_run(backend: str, run: RunResult, baseline: float) -> None:
    print(f"\n=== {backend}: {run.mode} ===")
    if run.startup_s:
        runs = " ".join(f"{s:.2f}" for s in run.startup_s)
        print(f"worker start-up (burst on an empty queue, process start to exit): median "
              f"{statistics.median(run.startup_s):.2f} s   runs: {runs}")  # fmt: skip
    if run.mode == "worker":
        header = (f"{'wave':<8}{'msgs':>6}{'store s':>9}{'worker s':>10}{'processed s':>13}{'msg/s':>8}"
                  f"{'drained s':>10}{'msg/s':>8}   jobs run (count, seconds inside the jobs)")  # fmt: skip
    else:
        header = f"{'wave':<8}{'msgs':>6}{'seconds':>9}{'msg/s':>8}{'ms/msg':>8}"
    print(header)
    print("-" * len(header))
    for w in run.waves:
        if run.mode == "worker":
            job_text = ", ".join(f"{name} {n} ({seconds:.1f} s)" for name, (n, seconds) in sorted(w.jobs.items()))
            print(f"{w.name:<8}{w.messages:>6,}{w.store_s:>9.2f}{w.worker_s or 0:>10.2f}{w.processed_s:>13.2f}"
                  f"{w.rate:>8.1f}{w.total_s:>10.2f}{w.messages / w.total_s:>8.1f}   {job_text}")  # fmt: skip
        else:
            print(f"{w.name:<8}{w.messages:>6,}{w.processed_s:>9.2f}{w.rate:>8.1f}{1000 / w.rate:>8.2f}")
    total_processed = sum(w.processed_s for w in run.waves)
    if run.mode == "worker":
        store = sum(w.store_s for w in run.waves)
        worker = sum(w.worker_s or 0 for w in run.waves)
        total = sum(w.total_s for w in run.waves)
        print(f"{'all':<8}{run.messages:>6,}{store:>9.2f}{worker:>10.2f}{total_processed:>13.2f}{run.rate:>8.1f}"
              f"{total:>10.2f}{run.rate_exit:>8.1f}")  # fmt: skip
    else:
        print(f"{'all':<8}{run.messages:>6,}{total_processed:>9.2f}{run.rate:>8.1f}{1000 / run.rate:>8.2f}")
    print(f"end-to-end / parse-only baseline: {run.rate / baseline:.3f}   (aim >= 0.5: "
          f"{'met' if run.rate >= 0.5 * baseline else 'NOT met'})")  # fmt: skip
    for w in run.waves:
        failed = f"   failed processing: {w.failed}" if w.failed else ""
        print(f"{w.name} outcomes: " + "; ".join(f"{text} x{n}" for text, n in w.outcomes.most_common()) + failed)
    print("threading accuracy (wave 2; 'exact' = also by the intended mechanism, from the outcome text):")
    for cls in CLASSES:
        acc = run.accuracy[cls]
        print(f"    {cls:<24}{acc.right:>5} / {acc.total:<5} exact {acc.exact:>5} / {acc.total:<5} {EXPECTED[cls]}")
        for miss in acc.misses:
            print(f"        miss: {miss}")
    print(f"tickets created in wave 2: {run.wave2_tickets} (expected {run.wave2_tickets_expected}: the replies from "
          "senders of another customer)")  # fmt: skip
    if run.profile:
        print(f"cProfile of the in-process path, both waves ({backend}; rates above are slowed by the profiler):")
        print(run.profile)


def summary(results: list[tuple[str, RunResult, RunResult | None, float]], messages: int) -> None:
    print("\n=== summary ===  (parse-only/s: the baseline runs bracketing that backend's runs; ratios are to it)")
    header = (f"{'backend':<12}{'messages':>9}{'parse-only/s':>14}{'e2e worker/s':>14}{'e2e/base':>10}"
              f"{'drained/s':>11}{'in-process/s':>14}{'inproc/base':>13}{'worker start s':>16}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for backend, worker, inline, baseline in results:
        start = statistics.median(worker.startup_s) if worker.startup_s else float("nan")
        inline_rate = inline.rate if inline else float("nan")
        print(f"{backend:<12}{messages:>9,}{baseline:>14.1f}{worker.rate:>14.1f}{worker.rate / baseline:>10.3f}"
              f"{worker.rate_exit:>11.1f}{inline_rate:>14.1f}{inline_rate / baseline:>13.3f}"
              f"{start:>16.2f}")  # fmt: skip
    print("\nthreading accuracy, wave 2 (right ticket and side effects / total; worker run | in-process run):")
    header = f"{'class':<24}" + "".join(f"{backend:>26}" for backend, _, _, _ in results)
    print(header)
    print("-" * len(header))
    for cls in CLASSES:
        cells = []
        for _, worker, inline, _ in results:
            a = worker.accuracy[cls]
            b = inline.accuracy[cls] if inline else None
            cells.append(f"{a.right}/{a.total}" + (f" | {b.right}/{b.total}" if b else ""))
        print(f"{cls:<24}" + "".join(f"{cell:>26}" for cell in cells))
    tickets = [f"{backend} {w.wave2_tickets}/{w.wave2_tickets_expected}" for backend, w, _, _ in results]
    print("tickets created in wave 2 (worker run, got/expected): " + ", ".join(tickets))


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages in the corpus (default 2,000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help="PostgreSQL server URL without database (throw-away databases are created)",
    )
    parser.add_argument("--batch", type=int, default=imap.BATCH,
                        help=f"worker path: stores committed N at a time (default {imap.BATCH}, as IMAP)")  # fmt: skip
    parser.add_argument("--baseline-runs", type=int, default=3,
                        help="parse-only runs at the start, and before and after each backend's runs")  # fmt: skip
    parser.add_argument("--startup-runs", type=int, default=3, help="empty-queue burst workers timed per backend")
    parser.add_argument(
        "--smtp-url",
        default=None,
        help="SMTP_URL of the runs (default: file://<temp dir>/outbox, so acknowledgement sends succeed; "
        "'' leaves them failing and scheduled for retry)",
    )
    parser.add_argument("--modes", default="worker,in-process", help="comma-separated: worker,in-process")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process runs (top 40 cumulative)")
    parser.add_argument("--profile-out", default=None, help="with --profile: also dump the raw stats to FILE.<backend>")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if set(args.backends) - {"sqlite", "postgresql"} or not args.backends:
        parser.error("--backends: sqlite and/or postgresql")
    if set(args.modes) - {"worker", "in-process"} or "worker" not in args.modes:
        parser.error("--modes: worker, optionally in-process")
    if args.messages < MIN_MESSAGES:
        parser.error(f"--messages must be at least {MIN_MESSAGES}")
    if args.batch < 1 or args.baseline_runs < 1 or args.startup_runs < 0:
        parser.error("--batch and --baseline-runs must be positive")
    return args


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the finally blocks: the worker subprocess and temporary files go too


def main(argv: Sequence[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    started = time.perf_counter()
    print("Email ingest benchmark")
    for line in machine(args.pg_url if "postgresql" in args.backends else None):
        print(line)
    flush_redis()
    try:
        rng = random.Random(f"{args.seed}-directory")
        directory = make_directory(rng)
        counts = plan_counts(args.messages)
        wave1 = generate_wave1(args.seed, directory, counts["new"])
        predicted = generate_wave2(args.seed, directory, wave1, predict_threads(args.seed, directory, wave1), counts)
        corpus = [m.raw for m in wave1] + [m.raw for m in predicted.mails]
        mix = Counter(m.cls for m in predicted.mails)
        size = sum(len(raw) for raw in corpus)
        multipart = sum(1 for raw in corpus if b"multipart/" in raw[:20000])
        attachments = sum(1 for raw in corpus if b"Content-Disposition: attachment" in raw)
        non_ascii = sum(1 for m in wave1 + predicted.mails if "=?" in m.raw[:6000].decode("latin-1"))
        free = sum(p.org is None for p in directory.people)
        print(f"corpus: {len(corpus):,} messages, {_mb(size)} (seed {args.seed}); {len(directory.orgs)} customers, "
              f"{len(directory.people)} senders ({free} free-mail)")  # fmt: skip
        print(f"    wave 1: {len(wave1):,} new tickets; wave 2: {len(predicted.mails):,} = "
              + ", ".join(f"{cls} {mix[cls]}" for cls in CLASSES))  # fmt: skip
        print(f"    {multipart:,} multipart, {attachments:,} with an attachment, {non_ascii:,} with encoded words")
        print(f"\nparse-only baseline (stdlib policy.default + get_body().get_content()), {args.baseline_runs} runs:")
        rates = parse_rate(corpus, stdlib_parse, args.baseline_runs)
        baseline = statistics.median(rates)
        print(f"    median {baseline:,.1f} msg/s   runs: {' '.join(f'{r:,.1f}' for r in rates)}")
        ours = statistics.median(parse_rate(corpus, parse_email, args.baseline_runs))
        print(f"    for reference, ticketing.domain.mail_parse.parse_email on the same corpus: {ours:,.1f} msg/s")

        results: list[tuple[str, RunResult, RunResult | None, float]] = []
        with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp_name:
            tmp = Path(tmp_name)
            for backend in args.backends:
                before = parse_rate(corpus, stdlib_parse, args.baseline_runs)
                worker = run_mode(backend, "worker", args, tmp, directory, wave1, counts)
                inline = None
                if "in-process" in args.modes:
                    inline = run_mode(backend, "in-process", args, tmp, directory, wave1, counts)
                print(f"\n=== {backend} ===")
                baseline = bracket_baseline(corpus, args.baseline_runs, before)
                report_run(backend, worker, baseline)
                if inline is not None:
                    report_run(backend, inline, baseline)
                predicted_bytes = sum(len(m.raw) for m in predicted.mails)
                ingested = f"{worker.wave2_bytes:,}" + (f" / {inline.wave2_bytes:,}" if inline else "")
                print(f"wave-2 bytes ingested (worker / in-process): {ingested}; in the baseline corpus: "
                      f"{predicted_bytes:,}")  # fmt: skip
                results.append((backend, worker, inline, baseline))
        summary(results, args.messages)
    finally:
        flush_redis()
    print(f"\ntotal wall time: {time.perf_counter() - started:.1f} s   load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
