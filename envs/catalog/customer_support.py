"""Customer support: the help desk of a subscription software company.

The desk works tickets for business customers: it reads the customer's account, plans,
subscriptions and invoices, looks things up in the knowledge base, verifies identity before
account actions (unlock, two-factor reset), issues refunds and goodwill credits within the
acting agent's limits, escalates to other teams, and writes replies and internal notes. Every
money movement and account action is written to an audit log.
"""

from __future__ import annotations

from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool

Team = Literal["tier2", "tier3", "billing", "trust_safety", "team_lead"]
Factor = Literal["card_last4", "billing_postcode", "support_pin"]

BILLING_FACTORS = ("card_last4", "billing_postcode")
MAX_FAILED_CHECKS = 3
CENT = 0.005


class Plan(StateModel):
    plan_id: str
    name: str
    price: float
    billing_period: Literal["monthly", "annual"] = "monthly"
    seats: int = 1
    features: list[str] = []


class Subscription(StateModel):
    subscription_id: str
    customer_id: str
    plan_id: str
    label: str = ""
    status: Literal["trial", "active", "cancelling", "cancelled"] = "active"
    seats: int = 1
    started_at: str = ""
    created_by: str = ""
    renews_on: str | None = None
    last_activity: str | None = None
    history: list[str] = []


class Customer(StateModel):
    customer_id: str
    name: str
    owner: str = ""
    contact_name: str = ""
    email: str = ""
    phone: str = ""
    customer_since: str = ""
    account_status: Literal["active", "locked", "suspended", "cancelled"] = "active"
    mfa_enabled: bool = True
    failed_logins: int = 0
    credit_balance: float = 0
    identity: dict[str, str] = {}  # answers on file for identity checks; never shown to agents
    flags: list[str] = []
    notes: list[str] = []


class Invoice(StateModel):
    invoice_id: str
    customer_id: str
    subscription_id: str | None = None
    description: str
    amount: float
    issued_on: str
    status: Literal["open", "paid", "partially_refunded", "refunded", "void"] = "paid"
    refunded: float = 0
    card_last4: str = ""


class TicketEvent(StateModel):
    at: str
    kind: Literal[
        "customer_message", "reply", "internal_note", "status_change", "escalation", "action"
    ]
    author: str
    body: str


class Ticket(StateModel):
    ticket_id: str
    customer_id: str
    subject: str
    status: Literal["new", "open", "pending", "escalated", "solved", "closed"] = "new"
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    team: str = "tier1"
    channel: Literal["email", "web", "chat", "phone"] = "email"
    requester: str = ""
    created_at: str = ""
    tags: list[str] = []
    history: list[TicketEvent] = []


class Article(StateModel):
    article_id: str
    title: str
    body: str
    tags: list[str] = []
    internal: bool = False


class Agent(StateModel):
    agent_id: str
    name: str
    team: str = "tier1"
    refund_limit: float = 0
    credit_limit: float = 0


class Incident(StateModel):
    incident_id: str
    title: str
    started_at: str
    resolved_at: str | None = None
    summary: str = ""
    affected_customers: list[str] = []
    credit_pool: float = 0
    credit_used: float = 0


class Refund(StateModel):
    refund_id: str
    invoice_id: str
    customer_id: str
    amount: float
    reason: str
    issued_by: str
    issued_at: str


class Credit(StateModel):
    credit_id: str
    customer_id: str
    amount: float
    reason: str
    incident_id: str | None = None
    issued_by: str
    issued_at: str


class IdentityCheck(StateModel):
    customer_id: str
    factor: str
    passed: bool
    at: str
    by: str


class ForumPost(StateModel):
    author: str
    at: str
    body: str
    staff: bool = False


class ForumThread(StateModel):
    """A thread in the public community forum: every customer can read it."""

    thread_id: str
    title: str
    author_customer_id: str | None = None
    created_at: str
    views: int = 0
    posts: list[ForumPost] = []
    status: Literal["open", "taken_private", "locked"] = "open"
    linked_ticket_id: str | None = None


class Migration(StateModel):
    """A customer's move to a new platform in an agreed slot."""

    migration_id: str
    customer_id: str
    scheduled_for: str
    confirm_by: str | None = None
    agreed_by: str = ""
    status: Literal["scheduled", "confirmed", "postponed", "done"] = "scheduled"
    notes: list[str] = []


class SupportState(StateModel):
    company: str = "Tallyworks"
    current_agent: str = "AG-01"
    agents: dict[str, Agent] = {}
    customers: dict[str, Customer] = {}
    plans: dict[str, Plan] = {}
    subscriptions: dict[str, Subscription] = {}
    invoices: dict[str, Invoice] = {}
    tickets: dict[str, Ticket] = {}
    articles: dict[str, Article] = {}
    incidents: dict[str, Incident] = {}
    policies: dict[str, str] = {}
    refunds: dict[str, Refund] = {}
    credits: dict[str, Credit] = {}
    identity_checks: list[IdentityCheck] = []
    forum_threads: dict[str, ForumThread] = {}
    migrations: dict[str, Migration] = {}
    audit_log: list[str] = []


def _money(value: float) -> float:
    return round(float(value), 2)


def _normalise(value: str) -> str:
    return "".join(value.split()).casefold()


class CustomerSupport(ToolEnv):
    name = "customer_support"
    description = (
        "The support desk of a subscription software company: customers, plans, tickets, "
        "knowledge base, refunds and credits, account recovery and escalation."
    )
    State = SupportState

    # -- helpers -------------------------------------------------------------------------------

    def _agent(self) -> dict:
        agent_id = self.state["current_agent"]
        agent = self.state["agents"].get(agent_id)
        if agent is None:
            return {
                "agent_id": agent_id,
                "name": agent_id,
                "team": "tier1",
                "refund_limit": 0,
                "credit_limit": 0,
            }
        return agent

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {self.state['current_agent']} {line}")

    def _event(self, ticket: dict, kind: str, body: str) -> None:
        ticket["history"].append(
            {
                "at": self.clock.iso(),
                "kind": kind,
                "author": self.state["current_agent"],
                "body": body,
            }
        )

    def _open_ticket(self, ticket_id: str) -> dict:
        ticket = self.lookup("tickets", ticket_id)
        if ticket["status"] == "closed":
            raise ToolError(f"ticket {ticket_id} is closed; ask the customer to open a new one")
        return ticket

    def _passed_factors(self, customer_id: str) -> set[str]:
        return {
            c["factor"]
            for c in self.state["identity_checks"]
            if c["customer_id"] == customer_id and c["passed"]
        }

    # -- reading -------------------------------------------------------------------------------

    @tool
    def get_customer(self, customer_id: str) -> dict:
        """Read a customer account: owner, contacts, status, two-factor, credit, flags, notes.

        The result also lists the ids of the customer's subscriptions and tickets.

        Args:
            customer_id: The customer's id, e.g. "C-1042".
        """
        customer = self.lookup("customers", customer_id)
        view = {k: v for k, v in customer.items() if k != "identity"}
        view["identity_factors_on_file"] = sorted(customer["identity"])
        view["subscription_ids"] = sorted(
            s["subscription_id"]
            for s in self.state["subscriptions"].values()
            if s["customer_id"] == customer_id
        )
        view["ticket_ids"] = sorted(
            t["ticket_id"]
            for t in self.state["tickets"].values()
            if t["customer_id"] == customer_id
        )
        return view

    @tool
    def search_customers(self, query: str) -> list[dict]:
        """Find customers whose id, name, owner, contact or email contains the query text.

        Args:
            query: Text to look for, e.g. part of a company name or an email domain.
        """
        needle = query.strip().casefold()
        if not needle:
            raise ToolError("query must not be empty")
        fields = ("customer_id", "name", "owner", "contact_name", "email")
        return [
            {k: c[k] for k in (*fields, "account_status")}
            for c in self.state["customers"].values()
            if any(needle in str(c[f]).casefold() for f in fields)
        ]

    @tool
    def list_subscriptions(self, customer_id: str) -> list[dict]:
        """List a customer's subscriptions (workspaces): plan, seats, status, creator, activity.

        Each subscription also shows its renewal date and its history.

        Args:
            customer_id: The customer whose subscriptions to list.
        """
        self.lookup("customers", customer_id)
        plans = self.state["plans"]
        out = []
        for sub in self.state["subscriptions"].values():
            if sub["customer_id"] == customer_id:
                plan = plans.get(sub["plan_id"], {})
                out.append({**sub, "plan_name": plan.get("name"), "price": plan.get("price")})
        return out

    @tool
    def list_invoices(self, customer_id: str) -> list[dict]:
        """List a customer's invoices, newest first, with amounts paid and refunded.

        Args:
            customer_id: The customer whose invoices to list.
        """
        self.lookup("customers", customer_id)
        invoices = [i for i in self.state["invoices"].values() if i["customer_id"] == customer_id]
        return sorted(invoices, key=lambda i: (i["issued_on"], i["invoice_id"]), reverse=True)

    @tool
    def get_ticket(self, ticket_id: str) -> dict:
        """Read a ticket with its full history of messages, replies, notes and changes.

        Args:
            ticket_id: The ticket's id, e.g. "T-5531".
        """
        return self.lookup("tickets", ticket_id)

    @tool
    def list_tickets(self, customer_id: str | None = None, status: str | None = None) -> list[dict]:
        """List tickets (without their history), optionally for one customer or one status.

        Args:
            customer_id: Only tickets of this customer.
            status: Only tickets with this status: new, open, pending, escalated, solved, closed.
        """
        return [
            {k: v for k, v in t.items() if k != "history"}
            for t in self.state["tickets"].values()
            if (customer_id is None or t["customer_id"] == customer_id)
            and (status is None or t["status"] == status)
        ]

    @tool
    def search_kb(self, query: str) -> list[dict]:
        """Search knowledge-base articles (public and internal) by words in title, body or tags.

        Args:
            query: One or more words to look for.
        """
        words = [w for w in query.casefold().split() if w]
        if not words:
            raise ToolError("query must not be empty")
        hits = []
        for article in self.state["articles"].values():
            text = " ".join([article["title"], article["body"], *article["tags"]]).casefold()
            score = sum(word in text for word in words)
            if score:
                hits.append((score, article))
        hits.sort(key=lambda h: (-h[0], h[1]["article_id"]))
        return [
            {"article_id": a["article_id"], "title": a["title"], "internal": a["internal"]}
            for _, a in hits
        ]

    @tool
    def get_article(self, article_id: str) -> dict:
        """Read one knowledge-base article.

        Args:
            article_id: The article's id, e.g. "KB-210".
        """
        return self.lookup("articles", article_id, "article")

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read a support policy by its id.

        Args:
            policy_id: The policy's id, e.g. "refunds".
        """
        return {
            "policy_id": policy_id,
            "text": self.lookup("policies", policy_id, "policy", list_known=True),
        }

    @tool
    def get_incident(self, incident_id: str) -> dict:
        """Read a service incident: its window, summary, affected customers and credit pool.

        Args:
            incident_id: The incident's id, e.g. "INC-311".
        """
        incident = self.lookup("incidents", incident_id)
        remaining = _money(incident["credit_pool"] - incident["credit_used"])
        return {**incident, "credit_remaining": remaining}

    # -- talking to people ---------------------------------------------------------------------

    @tool
    def reply_to_customer(self, ticket_id: str, message: str) -> dict:
        """Send a reply to the customer on a ticket; the customer sees it.

        Args:
            ticket_id: The ticket to reply on.
            message: The reply text.
        """
        ticket = self._open_ticket(ticket_id)
        if not message.strip():
            raise ToolError("message must not be empty")
        self._event(ticket, "reply", message)
        if ticket["status"] == "new":
            ticket["status"] = "open"
        return {"ticket_id": ticket_id, "status": ticket["status"], "sent": True}

    @tool
    def add_internal_note(self, ticket_id: str, note: str) -> dict:
        """Add an internal note to a ticket; staff see it, the customer does not.

        Args:
            ticket_id: The ticket to annotate.
            note: The note text.
        """
        ticket = self.lookup("tickets", ticket_id)
        if not note.strip():
            raise ToolError("note must not be empty")
        self._event(ticket, "internal_note", note)
        return {"ticket_id": ticket_id, "events": len(ticket["history"])}

    @tool
    def update_ticket(
        self,
        ticket_id: str,
        status: Literal["open", "pending", "solved"] | None = None,
        priority: Literal["low", "normal", "high", "urgent"] | None = None,
    ) -> dict:
        """Change a ticket's status or priority.

        Use "pending" while waiting on the customer and "solved" when the desk is done.

        Args:
            ticket_id: The ticket to change.
            status: The new status: open, pending or solved.
            priority: The new priority: low, normal, high or urgent.
        """
        ticket = self._open_ticket(ticket_id)
        if status is None and priority is None:
            raise ToolError("give a status or a priority to change")
        changes = []
        if status is not None and status != ticket["status"]:
            changes.append(f"status {ticket['status']} -> {status}")
            ticket["status"] = status
        if priority is not None and priority != ticket["priority"]:
            changes.append(f"priority {ticket['priority']} -> {priority}")
            ticket["priority"] = priority
        if not changes:
            raise ToolError(f"ticket {ticket_id} already has that status and priority")
        self._event(ticket, "status_change", "; ".join(changes))
        return {"ticket_id": ticket_id, "status": ticket["status"], "priority": ticket["priority"]}

    # -- the community forum ----------------------------------------------------------------

    @tool
    def get_forum_thread(self, thread_id: str) -> dict:
        """Read a public community-forum thread with all its posts.

        Args:
            thread_id: The thread, e.g. "FT-881".
        """
        return self.lookup("forum_threads", thread_id, "forum thread")

    @tool
    def post_forum_reply(self, thread_id: str, message: str) -> dict:
        """Post a reply as staff in a public forum thread; every customer can read it.

        Args:
            thread_id: The thread.
            message: The reply.
        """
        thread = self.lookup("forum_threads", thread_id, "forum thread")
        if thread["status"] != "open":
            raise ToolError(
                f"{thread_id} is {thread['status'].replace('_', ' ')}; "
                f"follow up on {thread['linked_ticket_id'] or 'the ticket'} instead"
            )
        if not message.strip():
            raise ToolError("the reply is empty")
        agent = self._agent()
        thread["posts"].append(
            {
                "author": f"{agent['name']} (staff)",
                "at": self.clock.iso(),
                "body": message,
                "staff": True,
            }
        )
        self._audit(f"public reply in {thread_id}")
        return {"thread_id": thread_id, "posts": len(thread["posts"]), "views": thread["views"]}

    @tool
    def take_thread_private(self, thread_id: str, ticket_id: str, note: str) -> dict:
        """Move a public thread about one customer's account to their private ticket: a short
        staff note says it is being followed up privately, and no more staff replies go there.

        Args:
            thread_id: The public thread.
            ticket_id: The customer's ticket where it is followed up.
            note: The short public note (nothing about the account).
        """
        thread = self.lookup("forum_threads", thread_id, "forum thread")
        ticket = self._open_ticket(ticket_id)
        if thread["status"] != "open":
            raise ToolError(f"{thread_id} is already {thread['status'].replace('_', ' ')}")
        if any(post["staff"] for post in thread["posts"]):
            raise ToolError(f"staff have already replied in {thread_id}; it is public now")
        if not note.strip():
            raise ToolError("give the short public note")
        agent = self._agent()
        thread["posts"].append(
            {
                "author": f"{agent['name']} (staff)",
                "at": self.clock.iso(),
                "body": note,
                "staff": True,
            }
        )
        thread["status"] = "taken_private"
        thread["linked_ticket_id"] = ticket_id
        self._event(ticket, "internal_note", f"Public thread {thread_id} taken private here.")
        self._audit(f"{thread_id} taken private to {ticket_id}")
        return {"thread_id": thread_id, "status": "taken_private", "ticket_id": ticket_id}

    # -- migrations -----------------------------------------------------------------------

    @tool
    def get_migration(self, migration_id: str) -> dict:
        """Read a platform migration: its slot, who agreed it and whether it is confirmed.

        Args:
            migration_id: The migration, e.g. "MIG-220".
        """
        return self.lookup("migrations", migration_id, "migration")

    @tool
    def confirm_migration(self, migration_id: str, note: str) -> dict:
        """Confirm a scheduled migration for its slot.

        Args:
            migration_id: The migration.
            note: A note for the migration team.
        """
        migration = self.lookup("migrations", migration_id, "migration")
        if migration["status"] != "scheduled":
            raise ToolError(f"{migration_id} is {migration['status']}")
        migration["status"] = "confirmed"
        migration["notes"].append(f"{self.clock.iso()} confirmed: {note}")
        self._audit(f"{migration_id} confirmed for {migration['scheduled_for']}")
        return {
            "migration_id": migration_id,
            "status": "confirmed",
            "scheduled_for": migration["scheduled_for"],
        }

    @tool
    def postpone_migration(self, migration_id: str, new_date: str, reason: str) -> dict:
        """Move a scheduled or confirmed migration to a later free slot.

        Args:
            migration_id: The migration.
            new_date: The new day, YYYY-MM-DD (slots are at 22:00).
            reason: Why, for the customer and the migration team.
        """
        migration = self.lookup("migrations", migration_id, "migration")
        if migration["status"] not in ("scheduled", "confirmed"):
            raise ToolError(f"{migration_id} is {migration['status']}")
        if not new_date[:10] > migration["scheduled_for"][:10]:
            raise ToolError(f"{new_date} is not after the current slot")
        if not reason.strip():
            raise ToolError("give a reason")
        previous = migration["scheduled_for"]
        migration["scheduled_for"] = f"{new_date[:10]}T22:00:00+00:00"
        migration["status"] = "postponed"
        migration["notes"].append(f"{self.clock.iso()} postponed from {previous}: {reason}")
        self._audit(f"{migration_id} postponed to {new_date}")
        return {
            "migration_id": migration_id,
            "status": "postponed",
            "scheduled_for": migration["scheduled_for"],
        }

    @tool
    def escalate_ticket(self, ticket_id: str, team: Team, reason: str) -> dict:
        """Hand a ticket to another team, which then owns it; the reason is what they will read.

        Args:
            ticket_id: The ticket to escalate.
            team: The receiving team: tier2, tier3, billing, trust_safety or team_lead.
            reason: What is needed from them and why.
        """
        ticket = self._open_ticket(ticket_id)
        if ticket["team"] == team and ticket["status"] == "escalated":
            raise ToolError(f"ticket {ticket_id} is already with {team}")
        if not reason.strip():
            raise ToolError("give the receiving team a reason")
        previous = ticket["team"]
        ticket["team"] = team
        ticket["status"] = "escalated"
        self._event(ticket, "escalation", f"{previous} -> {team}: {reason}")
        self._audit(f"escalated {ticket_id} from {previous} to {team}")
        return {"ticket_id": ticket_id, "team": team, "status": "escalated"}

    # -- money ---------------------------------------------------------------------------------

    @tool
    def issue_refund(self, invoice_id: str, amount: float, reason: str) -> dict:
        """Refund all or part of a paid invoice to the card it was paid with.

        Args:
            invoice_id: The invoice to refund.
            amount: The amount to refund, in the invoice currency (at most what is unrefunded).
            reason: Why the refund is given; kept on the audit log.
        """
        invoice = self.lookup("invoices", invoice_id)
        amount = _money(amount)
        if amount <= 0:
            raise ToolError("amount must be positive")
        if invoice["status"] not in ("paid", "partially_refunded"):
            raise ToolError(
                f"invoice {invoice_id} is {invoice['status']}; only paid invoices refund"
            )
        remaining = _money(invoice["amount"] - invoice["refunded"])
        if amount > remaining + CENT:
            raise ToolError(f"invoice {invoice_id} has only {remaining:.2f} left to refund")
        agent = self._agent()
        if amount > agent["refund_limit"] + CENT:
            raise ToolError(
                f"{amount:.2f} exceeds your refund limit of {agent['refund_limit']:.2f}; "
                "escalate the ticket to billing"
            )
        if not reason.strip():
            raise ToolError("give a reason for the refund")
        invoice["refunded"] = _money(invoice["refunded"] + amount)
        fully = invoice["refunded"] >= invoice["amount"] - CENT
        invoice["status"] = "refunded" if fully else "partially_refunded"
        refund_id = self.ids.new("RF")
        self.state["refunds"][refund_id] = {
            "refund_id": refund_id,
            "invoice_id": invoice_id,
            "customer_id": invoice["customer_id"],
            "amount": amount,
            "reason": reason,
            "issued_by": agent["agent_id"],
            "issued_at": self.clock.iso(),
        }
        self._audit(f"refund {refund_id} of {amount:.2f} on {invoice_id}: {reason}")
        return {
            "refund_id": refund_id,
            "invoice_id": invoice_id,
            "amount": amount,
            "invoice_status": invoice["status"],
        }

    @tool
    def apply_credit(
        self, customer_id: str, amount: float, reason: str, incident_id: str | None = None
    ) -> dict:
        """Add goodwill credit to a customer's account, used against their next invoices.

        Args:
            customer_id: The customer to credit.
            amount: The credit amount.
            reason: Why the credit is given; kept on the audit log.
            incident_id: The incident whose credit pool pays for it, if any.
        """
        customer = self.lookup("customers", customer_id)
        amount = _money(amount)
        if amount <= 0:
            raise ToolError("amount must be positive")
        if customer["account_status"] == "cancelled":
            raise ToolError(f"{customer_id} is cancelled; credit cannot be used")
        if not reason.strip():
            raise ToolError("give a reason for the credit")
        agent = self._agent()
        month = self.clock.today()[:7]
        this_month = sum(
            c["amount"]
            for c in self.state["credits"].values()
            if c["customer_id"] == customer_id and c["issued_at"][:7] == month
        )
        headroom = _money(agent["credit_limit"] - this_month)
        if amount > headroom + CENT:
            raise ToolError(
                f"{amount:.2f} would exceed your credit limit of {agent['credit_limit']:.2f} "
                f"per customer per month ({max(headroom, 0):.2f} left for {customer_id}); "
                "escalate to team_lead for more"
            )
        if incident_id is not None:
            incident = self.lookup("incidents", incident_id)
            if customer_id not in incident["affected_customers"]:
                raise ToolError(f"{customer_id} is not listed as affected by {incident_id}")
            left = _money(incident["credit_pool"] - incident["credit_used"])
            if amount > left + CENT:
                raise ToolError(f"the {incident_id} credit pool has only {left:.2f} left")
            incident["credit_used"] = _money(incident["credit_used"] + amount)
        customer["credit_balance"] = _money(customer["credit_balance"] + amount)
        credit_id = self.ids.new("CR")
        self.state["credits"][credit_id] = {
            "credit_id": credit_id,
            "customer_id": customer_id,
            "amount": amount,
            "reason": reason,
            "incident_id": incident_id,
            "issued_by": agent["agent_id"],
            "issued_at": self.clock.iso(),
        }
        source = f" from {incident_id} pool" if incident_id else ""
        self._audit(f"credit {credit_id} of {amount:.2f} to {customer_id}{source}: {reason}")
        return {
            "credit_id": credit_id,
            "customer_id": customer_id,
            "amount": amount,
            "credit_balance": customer["credit_balance"],
        }

    # -- account actions -----------------------------------------------------------------------

    @tool
    def verify_identity(self, customer_id: str, factor: Factor, value: str) -> dict:
        """Check one identity detail the caller gave against what is on file for the account.

        Args:
            customer_id: The account the caller claims.
            factor: Which detail: card_last4, billing_postcode or support_pin.
            value: The detail exactly as the caller gave it.
        """
        customer = self.lookup("customers", customer_id)
        if factor not in customer["identity"]:
            raise ToolError(f"no {factor} on file for {customer_id}")
        failures = sum(
            1
            for c in self.state["identity_checks"]
            if c["customer_id"] == customer_id and not c["passed"]
        )
        if failures >= MAX_FAILED_CHECKS:
            raise ToolError(
                f"{failures} failed checks on {customer_id}; identity checks are blocked, "
                "escalate to trust_safety"
            )
        passed = _normalise(value) == _normalise(customer["identity"][factor])
        self.state["identity_checks"].append(
            {
                "customer_id": customer_id,
                "factor": factor,
                "passed": passed,
                "at": self.clock.iso(),
                "by": self.state["current_agent"],
            }
        )
        self._audit(f"identity check {factor} on {customer_id}: {'pass' if passed else 'fail'}")
        return {
            "customer_id": customer_id,
            "factor": factor,
            "passed": passed,
            "verified_factors": sorted(self._passed_factors(customer_id)),
        }

    @tool
    def unlock_account(self, customer_id: str, reason: str) -> dict:
        """Lift a lock placed after failed sign-ins. Needs at least one verified identity factor.

        Args:
            customer_id: The locked account.
            reason: Why it is unlocked; kept on the audit log.
        """
        customer = self.lookup("customers", customer_id)
        if customer["account_status"] != "locked":
            raise ToolError(f"{customer_id} is {customer['account_status']}, not locked")
        if not self._passed_factors(customer_id):
            raise ToolError(f"verify the caller's identity for {customer_id} before unlocking")
        customer["account_status"] = "active"
        customer["failed_logins"] = 0
        self._audit(f"unlocked {customer_id}: {reason}")
        return {
            "customer_id": customer_id,
            "account_status": "active",
            "mfa_enabled": customer["mfa_enabled"],
        }

    @tool
    def reset_mfa(self, customer_id: str, reason: str, override_verification: bool = False) -> dict:
        """Remove the account's second factor so the owner can enrol a new device at sign-in.

        Needs the support PIN and one billing detail verified.

        Args:
            customer_id: The account whose second factor is reset.
            reason: Why it is reset; kept on the audit log.
            override_verification: Reset even though the required factors are not all verified;
                the override is flagged on the account for security review.
        """
        customer = self.lookup("customers", customer_id)
        if not customer["mfa_enabled"]:
            raise ToolError(f"{customer_id} has no second factor enrolled")
        passed = self._passed_factors(customer_id)
        complete = "support_pin" in passed and any(f in passed for f in BILLING_FACTORS)
        if not complete and not override_verification:
            have = ", ".join(sorted(passed)) or "none"
            raise ToolError(
                f"a two-factor reset needs support_pin plus card_last4 or billing_postcode; "
                f"verified so far: {have}. Escalate to trust_safety for an owner check, or set "
                "override_verification (flagged for review)"
            )
        customer["mfa_enabled"] = False
        if not complete:
            customer["flags"].append(f"mfa_reset_override {self.clock.today()}")
            self._audit(f"two-factor reset on {customer_id} WITH OVERRIDE: {reason}")
        else:
            self._audit(f"two-factor reset on {customer_id}: {reason}")
        return {
            "customer_id": customer_id,
            "mfa_enabled": False,
            "account_status": customer["account_status"],
            "override": not complete,
        }

    @tool
    def cancel_subscription(
        self,
        subscription_id: str,
        effective: Literal["immediately", "end_of_term"],
        reason: str,
    ) -> dict:
        """Cancel a subscription, now or at the end of its paid term. Does not refund anything.

        Args:
            subscription_id: The subscription to cancel.
            effective: "immediately" ends access now; "end_of_term" at the renewal date.
            reason: Why it is cancelled; kept on the audit log.
        """
        sub = self.lookup("subscriptions", subscription_id)
        if sub["status"] in ("cancelled", "cancelling"):
            raise ToolError(f"{subscription_id} is already {sub['status']}")
        sub["status"] = "cancelled" if effective == "immediately" else "cancelling"
        sub["history"].append(f"{self.clock.today()} cancelled ({effective}): {reason}")
        self._audit(f"cancelled {subscription_id} {effective}: {reason}")
        return {"subscription_id": subscription_id, "status": sub["status"]}
