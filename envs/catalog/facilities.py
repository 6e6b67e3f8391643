"""Facilities: the site services desk of an employer's campus.

Spaces with what they are for and who may use them, bookings to confirm or decline, requests
from staff, budget lines with their commitments, the people on site, policies, messages and
notices. Decisions about a space's use are recorded on the space.
"""

from __future__ import annotations

from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool

SpaceKind = Literal[
    "meeting_room", "lounge", "garden", "hall", "canteen", "chapel", "office", "terrace"
]


class Space(StateModel):
    space_id: str
    name: str
    kind: SpaceKind = "meeting_room"
    capacity: int = 10
    designation: str = ""
    access: list[str] = []  # who may use it, e.g. ["all staff"] or ["board", "guests"]
    notes: list[str] = []


class Booking(StateModel):
    booking_id: str
    space_id: str
    event: str
    requested_by: str
    date: str
    start: str = "09:00"
    end: str = "17:00"
    attendees: int = 1
    status: Literal["requested", "confirmed", "declined", "cancelled"] = "requested"
    decision_note: str = ""


class ServiceRequest(StateModel):
    request_id: str
    kind: str
    requested_by: str
    subject: str
    detail: str = ""
    submitted_at: str
    status: Literal["open", "approved", "declined"] = "open"
    decision_note: str = ""


class Commitment(StateModel):
    payee: str
    amount: float
    purpose: str
    at: str


class BudgetLine(StateModel):
    line_id: str
    name: str
    holder: str = ""
    amount: float
    commitments: list[Commitment] = []


class Person(StateModel):
    person_id: str
    name: str
    role: str
    team: str = ""


class Message(StateModel):
    message_id: str
    to: str
    subject: str
    body: str
    sent_at: str


class Notice(StateModel):
    notice_id: str
    audience: str
    title: str
    body: str
    posted_at: str


class FacilitiesState(StateModel):
    site: str = "Head office"
    manager: str = "facilities manager"
    spaces: dict[str, Space] = {}
    bookings: dict[str, Booking] = {}
    requests: dict[str, ServiceRequest] = {}
    budget_lines: dict[str, BudgetLine] = {}
    people: dict[str, Person] = {}
    policies: dict[str, str] = {}
    messages: list[Message] = []
    notices: list[Notice] = []
    audit_log: list[str] = []


def _committed(line: dict) -> float:
    return round(sum(c["amount"] for c in line["commitments"]), 2)


class Facilities(ToolEnv):
    name = "facilities"
    description = (
        "The site services desk of a large employer: rooms and spaces and who may use them, "
        "bookings, requests from staff, the events and welfare budgets, messages and notices."
    )
    State = FacilitiesState

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {self.state['manager']}: {line}")

    # -- spaces and bookings ------------------------------------------------------------------

    @tool
    def list_spaces(self, kind: SpaceKind | None = None) -> list[dict]:
        """List the site's spaces with what they are for, their capacity and who may use them.

        Args:
            kind: Only spaces of this kind, e.g. "lounge" or "garden".
        """
        return [s for s in self.state["spaces"].values() if kind is None or s["kind"] == kind]

    @tool
    def get_space(self, space_id: str) -> dict:
        """Read a space, with its bookings.

        Args:
            space_id: The space, e.g. "SP-BOARD".
        """
        space = self.lookup("spaces", space_id, "space", list_known=True)
        bookings = [b for b in self.state["bookings"].values() if b["space_id"] == space_id]
        return {**space, "bookings": bookings}

    @tool
    def list_bookings(self, space_id: str | None = None, status: str | None = None) -> list[dict]:
        """List bookings, optionally of one space or in one status.

        Args:
            space_id: Only bookings of this space.
            status: Only bookings in this status: requested, confirmed, declined, cancelled.
        """
        return [
            b
            for b in self.state["bookings"].values()
            if (space_id is None or b["space_id"] == space_id)
            and (status is None or b["status"] == status)
        ]

    def _clash(self, space_id: str, date: str, start: str, end: str, skip: str = "") -> dict | None:
        for b in self.state["bookings"].values():
            if (
                b["booking_id"] != skip
                and b["space_id"] == space_id
                and b["status"] == "confirmed"
                and b["date"] == date
                and b["start"] < end
                and start < b["end"]
            ):
                return b
        return None

    @tool
    def decide_booking(
        self, booking_id: str, decision: Literal["confirm", "decline"], note: str
    ) -> dict:
        """Confirm or decline a requested booking; the requester is told.

        Args:
            booking_id: The booking, e.g. "BK-31".
            decision: confirm or decline.
            note: The reason, for the requester.
        """
        booking = self.lookup("bookings", booking_id, "booking")
        if booking["status"] != "requested":
            raise ToolError(f"{booking_id} is already {booking['status']}")
        if not note.strip():
            raise ToolError("give the requester a reason")
        if decision == "confirm":
            clash = self._clash(
                booking["space_id"],
                booking["date"],
                booking["start"],
                booking["end"],
                skip=booking_id,
            )
            if clash:
                raise ToolError(
                    f"{booking['space_id']} is already booked then ({clash['booking_id']})"
                )
        booking["status"] = "confirmed" if decision == "confirm" else "declined"
        booking["decision_note"] = note
        self._audit(f"{booking_id} {booking['status']}")
        return {"booking_id": booking_id, "status": booking["status"]}

    @tool
    def book_space(
        self,
        space_id: str,
        date: str,
        start: str,
        end: str,
        event: str,
        booked_for: str,
        attendees: int = 1,
    ) -> dict:
        """Book a space yourself (confirmed at once) if it is free and big enough.

        Args:
            space_id: The space.
            date: The day, YYYY-MM-DD.
            start: Start time, HH:MM.
            end: End time, HH:MM.
            event: What it is for.
            booked_for: Who it is for (a person id or team).
            attendees: How many people.
        """
        space = self.lookup("spaces", space_id, "space", list_known=True)
        if attendees > space["capacity"]:
            raise ToolError(f"{space['name']} holds {space['capacity']}, not {attendees}")
        if not start < end:
            raise ToolError("the booking must end after it starts")
        clash = self._clash(space_id, date, start, end)
        if clash:
            raise ToolError(f"{space['name']} is already booked then ({clash['booking_id']})")
        booking_id = self.ids.sequence("BK")
        self.state["bookings"][booking_id] = {
            "booking_id": booking_id,
            "space_id": space_id,
            "event": event,
            "requested_by": booked_for,
            "date": date,
            "start": start,
            "end": end,
            "attendees": attendees,
            "status": "confirmed",
            "decision_note": "booked by facilities",
        }
        self._audit(f"booked {space_id} on {date} {start}-{end} for {booked_for}")
        return {"booking_id": booking_id, "space_id": space_id, "status": "confirmed"}

    @tool
    def set_space_access(
        self, space_id: str, designation: str, access: list[str], reason: str
    ) -> dict:
        """Change what a space is for and who may use it.

        Args:
            space_id: The space.
            designation: What the space is for from now on.
            access: Who may use it, e.g. ["all staff"] or ["board", "guests", "night shift"].
            reason: Why, recorded on the space.
        """
        space = self.lookup("spaces", space_id, "space", list_known=True)
        if not access:
            raise ToolError("say who may use the space")
        if not reason.strip():
            raise ToolError("give a reason for the change")
        before = f"{space['designation']} ({', '.join(space['access'])})"
        space["designation"] = designation
        space["access"] = list(access)
        space["notes"].append(f"{self.clock.iso()} changed from {before}: {reason}")
        self._audit(f"{space_id} now {designation} for {', '.join(access)}")
        return {"space_id": space_id, "designation": designation, "access": space["access"]}

    # -- requests and budgets -----------------------------------------------------------------

    @tool
    def list_requests(self, status: str | None = None) -> list[dict]:
        """List requests from staff to facilities.

        Args:
            status: Only requests in this status: open, approved, declined.
        """
        return [r for r in self.state["requests"].values() if status in (None, r["status"])]

    @tool
    def decide_request(
        self, request_id: str, decision: Literal["approve", "decline"], note: str
    ) -> dict:
        """Approve or decline an open request; the requester is told.

        Args:
            request_id: The request, e.g. "REQ-7".
            decision: approve or decline.
            note: The reason, for the requester.
        """
        request = self.lookup("requests", request_id, "request")
        if request["status"] != "open":
            raise ToolError(f"{request_id} is already {request['status']}")
        if not note.strip():
            raise ToolError("give the requester a reason")
        request["status"] = "approved" if decision == "approve" else "declined"
        request["decision_note"] = note
        self._audit(f"{request_id} {request['status']}")
        return {"request_id": request_id, "status": request["status"]}

    @tool
    def get_budget(self, line_id: str) -> dict:
        """Read a budget line: its amount, what is committed and what is left.

        Args:
            line_id: The budget line, e.g. "BUD-EVENTS".
        """
        line = self.lookup("budget_lines", line_id, "budget line", list_known=True)
        committed = _committed(line)
        return {**line, "committed": committed, "remaining": round(line["amount"] - committed, 2)}

    @tool
    def commit_spend(self, line_id: str, payee: str, amount: float, purpose: str) -> dict:
        """Commit spending against a budget line (a booking deposit, an order); it cannot
        take the line over its amount.

        Args:
            line_id: The budget line.
            payee: Who is paid.
            amount: How much.
            purpose: What for.
        """
        line = self.lookup("budget_lines", line_id, "budget line", list_known=True)
        if amount <= 0:
            raise ToolError("the amount must be positive")
        remaining = round(line["amount"] - _committed(line), 2)
        if amount > remaining:
            raise ToolError(f"{line_id} has {remaining:.2f} left, not {amount:.2f}")
        line["commitments"].append(
            {"payee": payee, "amount": round(amount, 2), "purpose": purpose, "at": self.clock.iso()}
        )
        self._audit(f"committed {amount:.2f} to {payee} on {line_id}: {purpose}")
        return {"line_id": line_id, "payee": payee, "remaining": round(remaining - amount, 2)}

    # -- people and policies ------------------------------------------------------------------

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read a site policy by its id.

        Args:
            policy_id: The policy, e.g. "staff-wellbeing".
        """
        text = self.lookup("policies", policy_id, "policy", list_known=True)
        return {"policy_id": policy_id, "text": text}

    @tool
    def list_people(self, team: str | None = None) -> list[dict]:
        """List the people facilities deals with.

        Args:
            team: Only people of this team.
        """
        return [p for p in self.state["people"].values() if team in (None, p["team"])]

    @tool
    def send_message(self, to: str, subject: str, body: str) -> dict:
        """Send a message to a person.

        Args:
            to: The person's id.
            subject: The subject line.
            body: The message.
        """
        person = self.lookup("people", to, "person")
        if not body.strip():
            raise ToolError("the message is empty")
        message_id = self.ids.new("MSG")
        self.state["messages"].append(
            {
                "message_id": message_id,
                "to": to,
                "subject": subject,
                "body": body,
                "sent_at": self.clock.iso(),
            }
        )
        return {"message_id": message_id, "to": person["name"]}

    @tool
    def post_notice(self, audience: str, title: str, body: str) -> dict:
        """Post a notice on the staff noticeboard and intranet.

        Args:
            audience: Who it is for, e.g. "all staff".
            title: The headline.
            body: The notice.
        """
        if not body.strip():
            raise ToolError("the notice is empty")
        notice_id = self.ids.sequence("NTC")
        self.state["notices"].append(
            {
                "notice_id": notice_id,
                "audience": audience,
                "title": title,
                "body": body,
                "posted_at": self.clock.iso(),
            }
        )
        return {"notice_id": notice_id}
