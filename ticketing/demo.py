"""Realistic demo data: customers with domains, contacts and onboarding plans; teams and staff;
SLA policies on business hours; a few hundred tickets whose timelines were played through the services."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import holidays
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import MilestoneStatus, PortalRole, Priority, Source, StaffRole, Tier
from ticketing.models import (
    Branding,
    BusinessCalendar,
    CannedResponse,
    Category,
    Contact,
    Customer,
    CustomerDomain,
    Holiday,
    IntakeForm,
    Milestone,
    OnboardingPlan,
    RoutingRule,
    SlaPolicy,
    SlaTarget,
    Team,
    User,
)
from ticketing.services import sla_sweep, tickets
from ticketing.services.interactions import add_interaction
from ticketing.services.timelog import log_time

DEMO_PASSWORDS = {"admin": "demo-admin", "manager": "demo-manager", "agent": "demo-agent", "contact": "demo-contact"}


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


WEEKDAYS_9_TO_530 = {str(d): [["09:00", "17:30"]] for d in range(5)}

# (tier, first response, resolution) in working minutes per priority; None = no target.
TARGETS: dict[Tier | None, dict[Priority, tuple[int | None, int | None]]] = {
    None: {
        Priority.URGENT: (60, 480),
        Priority.HIGH: (240, 960),
        Priority.MEDIUM: (480, 2400),
        Priority.LOW: (960, None),
    },
    Tier.STANDARD: {
        Priority.URGENT: (60, 480),
        Priority.HIGH: (240, 960),
        Priority.MEDIUM: (480, 2400),
        Priority.LOW: (960, None),
    },
    Tier.PREMIUM: {
        Priority.URGENT: (30, 240),
        Priority.HIGH: (120, 480),
        Priority.MEDIUM: (240, 1440),
        Priority.LOW: (480, 2880),
    },
    Tier.ENTERPRISE: {
        Priority.URGENT: (15, 240),
        Priority.HIGH: (60, 480),
        Priority.MEDIUM: (240, 1440),
        Priority.LOW: (480, 2880),
    },
}

CUSTOMERS = [
    (
        "Northwind Traders",
        Tier.ENTERPRISE,
        ["northwind.example", "northwind-traders.example"],
        [("Ada Lovelace", "ada"), ("Grace Hopper", "grace"), ("Alan Turing", "alan"), ("Edsger Dijkstra", "edsger")],
    ),
    (
        "Acme Analytics",
        Tier.PREMIUM,
        ["acme.example"],
        [("Katherine Johnson", "katherine"), ("Dorothy Vaughan", "dorothy"), ("Mary Jackson", "mary")],
    ),
    (
        "Globex Retail",
        Tier.STANDARD,
        ["globex.example", "globex-shop.example"],
        [("Hank Scorpio", "hank"), ("Lisa Simpson", "lisa"), ("Frank Grimes", "frank")],
    ),
]

TEAMS = {
    "Billing": "Invoices, payments, refunds and plan changes.",
    "Integrations": "APIs, webhooks, SSO and connectors.",
    "Trust & Safety": "Account security, abuse reports and data requests.",
}

AGENTS = [
    ("Priya Natarajan", "agent", "Billing"),
    ("Tom Okafor", "tom", "Billing"),
    ("Lena Fischer", "lena", "Integrations"),
    ("Marco Rossi", "marco", "Integrations"),
    ("Aiko Tanaka", "aiko", "Trust & Safety"),
    ("Sam Carter", "sam", "Trust & Safety"),
]

# (subject, tag, what the customer writes about it): the opening message matches its subject.
SUBJECTS = {
    "Billing": [
        ("Invoice {n} shows the wrong VAT number", "billing",
         "invoice {n} has our old VAT number on it, so our accounts team cannot book it."),
        ("Refund for duplicate charge in {month}", "billing",
         "our card was charged twice for the {month} subscription. Could you refund the second charge?"),
        ("Upgrade to annual plan", "billing",
         "we would like to move from monthly to annual billing from the next renewal. What do we need to do?"),
        ("Card declined on renewal", "payments",
         "the renewal payment was declined although the card is valid and has enough funds."),
        ("Need a PO number on invoice {n}", "billing",
         "our procurement needs PO 4711-{n} printed on invoice {n} before they can pay it."),
    ],
    "Integrations": [
        ("Webhook deliveries failing with 401 since {month}", "integration-help",
         "since early {month} every webhook delivery to our endpoint fails with 401. We rotated nothing on our side."),
        ("SSO login loops back to the sign-in page", "sso",
         "after signing in through our identity provider, users land on the sign-in page again, in a loop."),
        ("API rate limit hit during nightly sync", "api",
         "our nightly sync hits the API rate limit around 02:00 and stops halfway through."),
        ("Salesforce connector stopped syncing contacts", "integration-help",
         "new contacts from Salesforce have not appeared since Monday; the connector says it is connected."),
        ("CSV export times out for large accounts", "export",
         "exporting the customer list to CSV times out for our biggest account (about 40,000 rows)."),
    ],
    "Trust & Safety": [
        ("Suspicious login from an unknown country", "security",
         "we got a login alert for one of our admins from a country none of us has been to."),
        ("Please delete a former employee's data", "gdpr",
         "a former employee asked us to delete their personal data. Please remove their account and history."),
        ("Phishing email pretending to be you", "abuse",
         "several of us received an email that looks like your invoice notice but links to another site."),
        ("Enable two-factor for all our users", "security",
         "we want to require two-factor sign-in for everyone in our organisation. Can you switch it on?"),
        ("Data processing agreement request", "legal",
         "our legal team needs your signed data processing agreement before we roll out to more teams."),
    ],
}  # fmt: skip

CATEGORY_FOR_TEAM = {
    "Billing": "Billing & payments",
    "Integrations": "Technical issue",
    "Trust & Safety": "Security & privacy",
}
EXTRA_CATEGORIES = ["Feature request", "Account administration", "How-to question"]

# How a customer's opening message is framed around what it is about (SUBJECTS).
CUSTOMER_BODIES = [
    "Hi team,\n\n{detail}\n\nCould you take a look? It is holding up part of our work.\n\nThanks",
    "Hello,\n\n{detail}\n\nHappy to send more details or jump on a call.\n\nBest regards",
    "Hi,\n\n{detail}\n\nWe would like this settled before our month-end close.\n\nCheers",
]
AGENT_REPLIES = [
    "Thanks for the report! I've reproduced it and I'm working on a fix now. I'll update you within the day.",
    "Thank you for your patience. Could you send us the exact time it happened and the affected user's email?",
    "Good news: this is fixed on our side. Could you confirm it works for you now?",
]
INTERNAL_NOTES = [
    "Looks like the same root cause as last week's incident. @lena can you check the sync logs?",
    "Customer is on a renewal call next week; handle with care.",
    "Escalated to engineering, ticket ENG-{n}. Do not promise a date yet.",
]
FINAL_STATUS_WEIGHTS = [
    (Status.OPEN, 14),
    (Status.IN_PROGRESS, 16),
    (Status.PENDING, 8),
    (Status.WAITING_ON_CUSTOMER, 12),
    (Status.RESOLVED, 25),
    (Status.CLOSED, 25),
]
# Requests older than this have mostly been dealt with, as on a real desk: a few stragglers stay open. (Drawn like the
# recent ones, the old open tickets filled "Breaching soon" with tickets breached weeks ago.)
SETTLED_AFTER = timedelta(days=10)
RECENT_SHARE = 0.25
SETTLED_STATUS_WEIGHTS = [
    (Status.OPEN, 1),
    (Status.IN_PROGRESS, 2),
    (Status.PENDING, 1),
    (Status.WAITING_ON_CUSTOMER, 2),
    (Status.RESOLVED, 44),
    (Status.CLOSED, 50),
]
PRIORITY_WEIGHTS = [(Priority.LOW, 20), (Priority.MEDIUM, 45), (Priority.HIGH, 25), (Priority.URGENT, 10)]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]  # str.capitalize would lower "November", "VAT", "API"


def _pick(rng: random.Random, weighted: list[tuple[object, int]]) -> object:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


def already_seeded(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(User)) > 0


def _calendars(session: Session, today: date) -> tuple[BusinessCalendar, BusinessCalendar]:
    office = BusinessCalendar(
        name="London office hours", timezone="Europe/London", hours=WEEKDAYS_9_TO_530, holiday_country="GB-ENG"
    )
    uk = holidays.country_holidays("GB", subdiv="ENG", years=[today.year - 1, today.year, today.year + 1])
    office.holidays = [Holiday(day=d, name=name) for d, name in sorted(uk.items())]
    always = BusinessCalendar(name="24x7", timezone="UTC", always_open=True)
    session.add_all([office, always])
    return office, always


def _policies(session: Session, office: BusinessCalendar, always: BusinessCalendar) -> None:
    names = {None: "Default", Tier.STANDARD: "Standard", Tier.PREMIUM: "Premium", Tier.ENTERPRISE: "Enterprise 24x7"}
    for tier, targets in TARGETS.items():
        policy = SlaPolicy(name=names[tier], tier=tier, calendar=always if tier == Tier.ENTERPRISE else office)
        policy.targets = [
            SlaTarget(priority=p, first_response_minutes=fr, resolution_minutes=res) for p, (fr, res) in targets.items()
        ]
        session.add(policy)


def _staff(session: Session) -> tuple[dict[str, Team], list[User], User]:
    teams = {name: Team(name=name, description=desc) for name, desc in TEAMS.items()}
    session.add_all(teams.values())
    agents = []
    for name, handle, team in AGENTS:
        user = User(name=name, email=f"{handle}@bluehill.test", role=StaffRole.AGENT, teams=[teams[team]])
        user.set_password(DEMO_PASSWORDS["agent"])
        agents.append(user)
    manager = User(name="Morgan Lee", email="manager@bluehill.test", role=StaffRole.MANAGER, teams=list(teams.values()))
    manager.set_password(DEMO_PASSWORDS["manager"])
    admin = User(name="Alex Admin", email="admin@bluehill.test", role=StaffRole.ADMIN)
    admin.set_password(DEMO_PASSWORDS["admin"])
    session.add_all([*agents, manager, admin])
    return teams, agents, manager


def _customers(session: Session, today: date) -> list[Customer]:
    customers = []
    for index, (name, tier, domains, people) in enumerate(CUSTOMERS):
        customer = Customer(name=name, tier=tier, notes=f"{tier.label} customer since {today.year - 2 + index}.")
        customer.domains = [CustomerDomain(domain=d) for d in domains]
        for position, (person, handle) in enumerate(people):
            contact = Contact(
                name=person,
                email=f"{handle}@{domains[0]}",
                phone=f"+44 20 7946 0{index}{position}0",
                portal_role=PortalRole.CUSTOMER if position == 0 else PortalRole.OWN,
            )
            contact.set_password(DEMO_PASSWORDS["contact"])
            customer.contacts.append(contact)
        start = today - timedelta(days=40 + 30 * index)
        plan = OnboardingPlan(name=f"{name} onboarding", started_on=start)
        steps = ["Kick-off call", "SSO configured", "Data import", "Admin training", "Go-live review"]
        for pos, title in enumerate(steps):
            due = start + timedelta(days=10 * (pos + 1))
            status = (
                MilestoneStatus.DONE
                if due < today - timedelta(days=5)
                else MilestoneStatus.IN_PROGRESS
                if due < today + timedelta(days=6)
                else MilestoneStatus.PLANNED
            )
            plan.milestones.append(
                Milestone(
                    position=pos,
                    title=title,
                    status=status,
                    due_on=due,
                    completed_on=due if status == MilestoneStatus.DONE else None,
                )
            )
        customer.onboarding_plan = plan
        session.add(customer)
        customers.append(customer)
    # People who write in from free-mail addresses are contacts without a customer.
    session.add_all(
        [
            Contact(name="Jamie Doe", email="jamie.doe@gmail.com"),
            Contact(name="Robin Roe", email="robin.roe@outlook.com"),
        ]
    )
    return customers


def _play_ticket(
    session: Session,
    rng: random.Random,
    n: int,
    now: datetime,
    customers: list[Customer],
    teams: dict[str, Team],
    agents: list[User],
    categories: dict[str, Category],
) -> None:
    customer = rng.choice(customers)
    contact = rng.choice(customer.contacts)
    team_name = rng.choice(list(teams))
    subject_template, tag, detail = rng.choice(SUBJECTS[team_name])
    # A quarter of the requests came in over the last three days (a desk's live work), the rest over two months.
    age_days = rng.uniform(0.05, 3) if rng.random() < RECENT_SHARE else rng.uniform(3, 60)
    created = now - timedelta(days=age_days, minutes=rng.randint(0, 600))
    source = rng.choice([Source.EMAIL, Source.EMAIL, Source.PORTAL, Source.WEB])
    clock = created
    fill = {"n": 40000 + n, "month": created.strftime("%B")}
    ticket = tickets.create_ticket(
        session,
        subject=subject_template.format(**fill),
        body=rng.choice(CUSTOMER_BODIES).format(detail=_sentence(detail.format(**fill))),
        source=source,
        sender_email=contact.email if source == Source.EMAIL else None,
        now=created,
        actor=contact,
        contact=contact,
        priority=_pick(rng, PRIORITY_WEIGHTS),  # type: ignore[arg-type]
        team=teams[team_name],
        category=categories[CATEGORY_FOR_TEAM[team_name]],
        tags=[tag],
        # An emailed request reads as an email in the timeline; a portal or web one as a message.
        interaction_fields={"email_from": contact.email} if source == Source.EMAIL else None,
    )
    team_agents = [a for a in agents if teams[team_name] in a.teams]
    weights = SETTLED_STATUS_WEIGHTS if now - created > SETTLED_AFTER else FINAL_STATUS_WEIGHTS
    final: Status = _pick(rng, weights)  # type: ignore[assignment]

    def step(hours: float) -> datetime | None:
        nonlocal clock
        clock = clock + timedelta(hours=rng.uniform(0.2, hours))
        return clock if clock < now else None

    if final == Status.OPEN and rng.random() < 0.5:
        return
    agent = rng.choice(team_agents)
    if (at := step(6)) is None:
        return
    tickets.add_assignee(session, ticket, agent, actor=agent, now=at)
    if rng.random() < 0.25 and (at := step(2)):
        tickets.add_assignee(session, ticket, rng.choice(agents), actor=agent, now=at)
    if final == Status.OPEN:
        return
    if (at := step(4)) is None:
        return
    tickets.change_status(session, ticket, Status.IN_PROGRESS, actor=agent, now=at)
    add_interaction(
        session,
        ticket,
        type=InteractionType.INTERNAL_NOTE,
        actor=agent,
        now=at,
        body_text=rng.choice(INTERNAL_NOTES).format(n=n),
    )
    if (at := step(8)) is None:
        return
    add_interaction(
        session,
        ticket,
        type=InteractionType.EMAIL_OUTBOUND,
        actor=agent,
        now=at,
        body_text=rng.choice(AGENT_REPLIES),
        email_from="support@bluehill.test",
        email_to=contact.email,
    )
    log_time(
        session,
        ticket,
        user=agent,
        minutes=rng.choice([10, 15, 20, 30, 45, 60]),
        now=at,
        note="Investigation and reply",
    )
    if rng.random() < 0.3 and (at := step(24)):
        add_interaction(
            session,
            ticket,
            type=InteractionType.PHONE_CALL,
            actor=agent,
            now=at,
            duration_minutes=15,
            body_text=f"Called {contact.name}; walked through the settings together.",
        )
    if final == Status.IN_PROGRESS:
        return
    paused = Status.PENDING if final == Status.PENDING else Status.WAITING_ON_CUSTOMER
    if (at := step(6)) is None:
        return
    tickets.change_status(session, ticket, paused, actor=agent, now=at)
    if final in (Status.PENDING, Status.WAITING_ON_CUSTOMER):
        return
    if (at := step(30)) is None:
        return
    add_interaction(
        session,
        ticket,
        type=InteractionType.EMAIL_INBOUND,
        actor=contact,
        now=at,
        body_text="Thanks, that did the trick on our side.",
        email_from=contact.email if source == Source.EMAIL else None,
    )
    if rng.random() < 0.2 and (at := step(4)):
        add_interaction(
            session,
            ticket,
            type=InteractionType.MEETING,
            actor=agent,
            now=at,
            duration_minutes=30,
            body_text="Review meeting with the customer's admin team.",
        )
    if (at := step(4)) is None:
        return
    tickets.change_status(session, ticket, Status.RESOLVED, actor=agent, now=at)
    if final == Status.CLOSED and (at := step(72)):
        tickets.change_status(session, ticket, Status.CLOSED, actor=None, now=at)


DEMO_FORMS = [
    {
        "slug": "report-a-bug", "name": "Report a bug", "team": "Integrations", "category": "Technical issue",
        "priority": Priority.MEDIUM, "tags": ["bug"],  # the severity answer raises or lowers it: DEMO_SEVERITY_RULES
        "description": "Something doesn't work as it should? Tell us what you did and what happened.",
        "fields": [
            {"name": "steps", "label": "Steps to reproduce", "type": "long_text", "required": True,
             "help": "What did you click or send, in order?"},
            {"name": "expected", "label": "What you expected", "type": "long_text", "required": True},
            {"name": "actual", "label": "What happened instead", "type": "long_text", "required": True},
            {"name": "severity", "label": "How bad is it?", "type": "select", "required": True,
             "options": ["Blocks our work", "Annoying, with a workaround", "Cosmetic"]},
            {"name": "screenshot", "label": "Screenshot", "type": "file", "help": "PNG or JPEG, up to 10 MB."},
        ],
    },
    {
        "slug": "billing-question", "name": "Billing question", "team": "Billing", "category": "Billing & payments",
        "priority": Priority.MEDIUM, "tags": ["billing"],
        "description": "Invoices, payments, refunds and plan changes.",
        "fields": [
            {"name": "invoice_number", "label": "Invoice number", "type": "text", "help": "If it's about one."},
            {"name": "topic", "label": "Topic", "type": "select", "required": True,
             "options": ["Invoice", "Payment", "Refund", "Plan change", "Other"]},
            {"name": "question", "label": "Your question", "type": "long_text", "required": True},
        ],
    },
    {
        "slug": "feature-request", "name": "Feature request", "team": None, "category": "Feature request",
        "priority": Priority.LOW, "tags": ["feature-request"],
        "description": "Ideas that would make the product better for you.",
        "fields": [
            {"name": "idea", "label": "Your idea", "type": "long_text", "required": True},
            {"name": "areas", "label": "Which areas does it touch?", "type": "multi_select",
             "options": ["Reporting", "Integrations", "Billing", "Security", "Mobile"]},
            {"name": "users_affected", "label": "How many of your users would use it?", "type": "number"},
            {"name": "needed_by", "label": "Needed by", "type": "date"},
            {"name": "contact_me", "label": "You may contact me about this idea", "type": "checkbox"},
        ],
    },
]  # fmt: skip


# Routing rules on the bug form's severity answer (the first message holds the answers): what an admin sets up so
# that "Blocks our work" is urgent business and "Cosmetic" is not.
DEMO_SEVERITY_RULES = [
    ("Bug blocks work", "Blocks our work", Priority.HIGH),
    ("Cosmetic bug", "Cosmetic", Priority.LOW),
]


def _forms(session: Session, teams: dict[str, Team], categories: dict[str, Category]) -> None:
    forms = {}
    for spec in DEMO_FORMS:
        forms[spec["slug"]] = IntakeForm(
            slug=spec["slug"], name=spec["name"], description=spec["description"], fields=spec["fields"],
            team=teams.get(spec["team"]) if spec["team"] else None, category=categories[spec["category"]],
            priority=spec["priority"], tags=spec["tags"], public=True,
            allowed_origins="http://127.0.0.1:8000 http://localhost:8000",
        )  # fmt: skip
    session.add_all(forms.values())
    for position, (name, keyword, priority) in enumerate(DEMO_SEVERITY_RULES, start=1):
        session.add(RoutingRule(name=name, position=position, form=forms["report-a-bug"], keywords=keyword,
                                set_priority=priority))  # fmt: skip


def seed(session: Session, *, now: datetime, tickets_count: int = 300, rng_seed: int = 7) -> list[DemoLogin]:
    """Fill an empty database; returns the demo logins (one per role)."""
    rng = random.Random(rng_seed)  # noqa: S311 - demo data, not security
    office, always = _calendars(session, now.date())
    _policies(session, office, always)
    teams, agents, _manager = _staff(session)
    categories = {name: Category(name=name) for name in [*CATEGORY_FOR_TEAM.values(), *EXTRA_CATEGORIES]}
    session.add_all(categories.values())
    customers = _customers(session, now.date())
    _forms(session, teams, categories)
    session.add_all([
        CannedResponse(title="Thanks, looking into it", body="Hi {contact},\n\nthanks for reaching out about "
                       "“{subject}”. I'm looking into it now and will update you today.\n\n{agent}"),
        CannedResponse(title="Need more details", body="Hi {contact},\n\ncould you send us the exact time it "
                       "happened and a screenshot? That will help us find it quickly.\n\n{agent}"),
        CannedResponse(title="Resolved — please confirm", body="Hi {contact},\n\nthis should be fixed now. "
                       "Could you confirm on your side? If anything is still off, just reply.\n\n{agent}"),
    ])  # fmt: skip
    session.add(
        Branding(product_name="Bluehill Support", primary_color="#1f5fbf", support_address="support@bluehill.test")
    )
    session.flush()
    for n in range(tickets_count):
        _play_ticket(session, rng, n, now, customers, teams, agents, categories)
    sla_sweep.sweep(session, now=now, warn_before=timedelta(hours=1))
    contact = customers[0].contacts[0]
    return [
        DemoLogin("admin", "admin@bluehill.test", DEMO_PASSWORDS["admin"]),
        DemoLogin("manager", "manager@bluehill.test", DEMO_PASSWORDS["manager"]),
        DemoLogin("agent", "agent@bluehill.test", DEMO_PASSWORDS["agent"]),
        DemoLogin("contact", contact.email, DEMO_PASSWORDS["contact"]),
    ]


def known_logins(session: Session) -> list[DemoLogin]:
    """The demo logins of an already seeded database (the passwords are the fixed demo ones)."""
    contact = session.scalar(
        sa.select(Contact).join(Customer).where(Customer.name == CUSTOMERS[0][0]).order_by(Contact.id).limit(1)
    )
    logins = [
        DemoLogin(role, f"{'agent' if role == 'agent' else role}@bluehill.test", DEMO_PASSWORDS[role])
        for role in ("admin", "manager", "agent")
    ]
    if contact is not None:
        logins.append(DemoLogin("contact", contact.email, DEMO_PASSWORDS["contact"]))
    return logins
