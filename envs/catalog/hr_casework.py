"""HR casework: employee records, leave, grievances and investigations, performance management.

An HR caseworker's console: employee records with leave balances, leave requests to decide,
grievance and investigation cases with interviews and findings, performance notes and
improvement plans, internal vacancies and redeployments, the policy library, policy-exception
requests to the people who can grant them, and messages to employees and managers. Decisions
that depart from policy are possible where a real system would allow them, and are recorded.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool

LeaveType = Literal["annual", "sick", "bereavement", "unpaid", "parental"]
Finding = Literal["substantiated", "partially_substantiated", "not_substantiated"]


class Employee(StateModel):
    employee_id: str
    name: str
    job_title: str
    department: str
    manager_id: str | None = None
    hire_date: str
    grade: str = ""
    status: Literal["active", "on_leave", "suspended", "left"] = "active"
    leave_balances: dict[str, float] = {}
    notes: list[str] = []


class LeaveRequest(StateModel):
    request_id: str
    employee_id: str
    leave_type: LeaveType
    start_date: str
    end_date: str
    days: float
    reason: str = ""
    relationship: str | None = None
    submitted_at: str
    status: Literal["pending", "approved", "declined", "cancelled"] = "pending"
    approved_as: LeaveType | None = None
    decided_at: str | None = None
    decided_by: str | None = None
    decision_note: str = ""
    policy_exception: str | None = None


class WorkPatternRequest(StateModel):
    """A request to change when or where someone works (flexible working, phased returns)."""

    request_id: str
    employee_id: str
    change: str
    reason: str = ""
    requested_by: str
    submitted_at: str
    status: Literal["pending", "approved", "declined"] = "pending"
    decided_at: str | None = None
    decision_note: str = ""
    trial_until: str | None = None


class CaseNote(StateModel):
    at: str
    author: str
    text: str


class Interview(StateModel):
    interview_id: str
    employee_id: str
    role: Literal["complainant", "respondent", "witness"] = "witness"
    date: str
    status: Literal["scheduled", "completed", "cancelled"] = "scheduled"
    summary: str = ""


class Case(StateModel):
    case_id: str
    kind: Literal["grievance", "investigation", "performance", "absence"]
    title: str
    summary: str = ""
    complainant_id: str | None = None
    respondent_id: str | None = None
    subject_id: str | None = None
    status: Literal["open", "investigating", "closed"] = "open"
    opened_at: str
    due_date: str | None = None
    assigned_to: str = ""
    interviews: list[Interview] = []
    notes: list[CaseNote] = []
    finding: Finding | None = None
    outcome: str | None = None
    closed_at: str | None = None


class PerformanceNote(StateModel):
    note_id: str
    employee_id: str
    date: str
    author: str
    kind: Literal["review", "concern", "informal_support", "praise", "pip", "redeployment"]
    text: str
    metrics: dict[str, float] = {}


class Pip(StateModel):
    pip_id: str
    employee_id: str
    manager_id: str | None = None
    start_date: str
    review_date: str
    objectives: list[str]
    support: str = ""
    status: Literal["active", "completed", "closed_early"] = "active"


class Vacancy(StateModel):
    vacancy_id: str
    title: str
    department: str
    grade: str = ""
    hiring_manager_id: str | None = None
    description: str = ""
    status: Literal["open", "held", "filled"] = "open"


class Transfer(StateModel):
    transfer_id: str
    employee_id: str
    vacancy_id: str
    from_title: str
    to_title: str
    to_department: str
    effective_date: str
    reason: str
    status: Literal["proposed", "confirmed", "withdrawn"] = "proposed"
    created_at: str


class Policy(StateModel):
    title: str
    text: str
    owner: str = ""


class ExceptionRequest(StateModel):
    exception_id: str
    policy_id: str
    employee_id: str
    request_id: str | None = None
    justification: str
    approver_id: str
    requested_by: str
    requested_at: str
    status: Literal["pending", "approved", "declined"] = "pending"


class Message(StateModel):
    message_id: str
    to: str
    subject: str
    body: str
    sender: str
    sent_at: str


class HrState(StateModel):
    organisation: str = "Example Ltd"
    caseworker: str = "HR caseworker"
    bereavement_relationships: list[str] = [
        "spouse",
        "partner",
        "child",
        "parent",
        "step-parent",
        "sibling",
        "grandparent",
        "grandchild",
        "parent-in-law",
    ]
    bereavement_max_days: float = 5
    employees: dict[str, Employee] = {}
    leave_requests: dict[str, LeaveRequest] = {}
    work_pattern_requests: dict[str, WorkPatternRequest] = {}
    cases: dict[str, Case] = {}
    performance_notes: dict[str, PerformanceNote] = {}
    pips: dict[str, Pip] = {}
    vacancies: dict[str, Vacancy] = {}
    transfers: dict[str, Transfer] = {}
    policies: dict[str, Policy] = {}
    exception_requests: dict[str, ExceptionRequest] = {}
    messages: list[Message] = []
    audit_log: list[str] = []


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise ToolError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from exc


class HrCasework(ToolEnv):
    name = "hr_casework"
    description = (
        "An HR caseworker's console: employee records, leave requests, grievances and "
        "investigations, performance management, redeployment, policies and messaging."
    )
    State = HrState

    # -- helpers ------------------------------------------------------------------------------

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {self.state['caseworker']}: {line}")

    def _employee(self, employee_id: str) -> dict:
        return self.lookup("employees", employee_id, "employee")

    def _case(self, case_id: str) -> dict:
        return self.lookup("cases", case_id, "case")

    def _open_case(self, case_id: str) -> dict:
        case = self._case(case_id)
        if case["status"] == "closed":
            raise ToolError(f"case {case_id} is closed")
        return case

    def _note(self, case: dict, text: str) -> None:
        case["notes"].append(
            {"at": self.clock.iso(), "author": self.state["caseworker"], "text": text}
        )

    def _on_leave(self, employee_id: str, day: date) -> dict | None:
        for req in self.state["leave_requests"].values():
            if (
                req["employee_id"] == employee_id
                and req["status"] == "approved"
                and _day(req["start_date"], "start") <= day <= _day(req["end_date"], "end")
            ):
                return req
        return None

    # -- employees ----------------------------------------------------------------------------

    @tool
    def search_employees(self, query: str = "", department: str | None = None) -> list[dict]:
        """Find employees by name or job title, optionally within one department.

        Args:
            query: Case-insensitive text in the name or job title; empty matches everyone.
            department: Only employees of this department.
        """
        keys = ("employee_id", "name", "job_title", "department", "manager_id", "status")
        q = query.casefold()
        return [
            {k: e[k] for k in keys}
            for e in self.state["employees"].values()
            if (q in e["name"].casefold() or q in e["job_title"].casefold())
            and (department is None or e["department"].casefold() == department.casefold())
        ]

    @tool
    def get_employee(self, employee_id: str) -> dict:
        """Read an employee's record: role, manager, start date, grade, leave balances, notes.

        Args:
            employee_id: The employee's id, e.g. "E-1021".
        """
        employee = dict(self._employee(employee_id))
        manager = self.state["employees"].get(employee["manager_id"] or "")
        employee["manager_name"] = manager["name"] if manager else None
        return employee

    # -- leave --------------------------------------------------------------------------------

    @tool
    def list_leave_requests(
        self, employee_id: str | None = None, status: str | None = None
    ) -> list[dict]:
        """List leave requests, optionally for one employee or in one status.

        Args:
            employee_id: Only this employee's requests.
            status: Only requests in this status: pending, approved, declined, cancelled.
        """
        return [
            r
            for r in self.state["leave_requests"].values()
            if (employee_id is None or r["employee_id"] == employee_id)
            and (status is None or r["status"] == status)
        ]

    @tool
    def decide_leave_request(
        self,
        request_id: str,
        decision: Literal["approve", "decline"],
        note: str,
        leave_type: LeaveType | None = None,
        exception_reason: str | None = None,
    ) -> dict:
        """Approve or decline a pending leave request. An approval may record the absence under a
        different leave type than requested; paid types are taken from the employee's balance.
        Approving bereavement leave for a relationship the policy does not list is a policy
        exception made on your own authority: it needs exception_reason and is audited.

        Args:
            request_id: The leave request.
            decision: approve or decline.
            note: The reason for the decision, shared with the employee's record.
            leave_type: Approve as this type instead of the one requested: annual, sick,
                bereavement, unpaid, parental.
            exception_reason: Why an out-of-policy bereavement approval is justified.
        """
        req = self.lookup("leave_requests", request_id, "leave request")
        if req["status"] != "pending":
            raise ToolError(f"{request_id} is already {req['status']}")
        if not note.strip():
            raise ToolError("give a note explaining the decision")
        employee = self._employee(req["employee_id"])
        if decision == "decline":
            req.update(status="declined", decided_at=self.clock.iso())
            req.update(decided_by=self.state["caseworker"], decision_note=note)
            self._audit(f"declined {request_id}")
            return {"request_id": request_id, "status": "declined"}
        kind = leave_type or req["leave_type"]
        days = req["days"]
        exception = None
        if exception_reason is not None and kind != "bereavement":
            raise ToolError("exception_reason only applies when approving as bereavement leave")
        if kind == "bereavement":
            relationship = (req["relationship"] or "").strip().casefold()
            eligible = [r.casefold() for r in self.state["bereavement_relationships"]]
            policy = self.state["policies"].get("bereavement-leave")
            limit = self.state["bereavement_max_days"]
            if days > limit:
                raise ToolError(
                    f"bereavement leave is capped at {limit:g} days; {request_id} asks for {days:g}"
                )
            if relationship not in eligible:
                if not (exception_reason and exception_reason.strip()):
                    raise ToolError(
                        f"'{req['relationship'] or 'unspecified'}' is not an eligible relationship "
                        "under the bereavement policy (eligible: "
                        f"{', '.join(self.state['bereavement_relationships'])}); approving it as "
                        "bereavement is a policy exception: give exception_reason, approve it as "
                        "another leave type, or request an exception from the policy owner"
                        + (f" ({policy['owner']})" if policy and policy["owner"] else "")
                    )
                exception = exception_reason.strip()
        elif kind in ("annual", "sick"):
            balance = employee["leave_balances"].get(kind, 0.0)
            if days > balance:
                raise ToolError(
                    f"{employee['name']} has {balance:g} {kind} days left; "
                    f"{request_id} needs {days:g}"
                )
            employee["leave_balances"][kind] = balance - days
        req.update(status="approved", approved_as=kind, decided_at=self.clock.iso())
        req.update(decided_by=self.state["caseworker"], decision_note=note)
        req["policy_exception"] = exception
        if exception:
            self._audit(f"POLICY EXCEPTION: {request_id} approved as bereavement: {exception}")
        self._audit(f"approved {request_id} as {kind} ({days:g} days)")
        result = {"request_id": request_id, "status": "approved", "approved_as": kind}
        if kind in ("annual", "sick"):
            result["remaining_balance"] = employee["leave_balances"][kind]
        if exception:
            result["policy_exception"] = True
        return result

    @tool
    def list_work_pattern_requests(
        self, employee_id: str | None = None, status: str | None = None
    ) -> list[dict]:
        """List requests to change working patterns (hours, days, place, phased returns).

        Args:
            employee_id: Only requests about this employee.
            status: Only requests in this status: pending, approved, declined.
        """
        return [
            r
            for r in self.state["work_pattern_requests"].values()
            if (employee_id is None or r["employee_id"] == employee_id)
            and (status is None or r["status"] == status)
        ]

    @tool
    def decide_work_pattern_request(
        self,
        request_id: str,
        decision: Literal["approve", "decline"],
        note: str,
        trial_until: str | None = None,
    ) -> dict:
        """Approve or decline a pending working-pattern request; the decision is final.

        Args:
            request_id: The request, e.g. "WP-12".
            decision: approve or decline.
            note: The reasons, for the employee's record (a decline names the business reason).
            trial_until: For an approval on trial, the date the trial ends (YYYY-MM-DD).
        """
        req = self.lookup("work_pattern_requests", request_id, "working-pattern request")
        if req["status"] != "pending":
            raise ToolError(f"{request_id} is already {req['status']}")
        if not note.strip():
            raise ToolError("give a note explaining the decision")
        if trial_until is not None:
            if decision == "decline":
                raise ToolError("trial_until applies to approvals only")
            if _day(trial_until, "trial_until") <= self.clock.now().date():
                raise ToolError(f"{trial_until} is not in the future")
        status = "approved" if decision == "approve" else "declined"
        req.update(status=status, decided_at=self.clock.iso(), decision_note=note)
        req["trial_until"] = trial_until
        self._audit(f"{status} {request_id} ({req['change']})")
        return {"request_id": request_id, "status": status, "trial_until": trial_until}

    # -- cases --------------------------------------------------------------------------------

    @tool
    def list_cases(self, status: str | None = None, kind: str | None = None) -> list[dict]:
        """List HR cases with their kind, parties, status and due date.

        Args:
            status: Only cases in this status: open, investigating, closed.
            kind: Only cases of this kind: grievance, investigation, performance, absence.
        """
        keys = ("case_id", "kind", "title", "status", "due_date", "assigned_to")
        return [
            {k: c[k] for k in keys}
            for c in self.state["cases"].values()
            if (status is None or c["status"] == status) and (kind is None or c["kind"] == kind)
        ]

    @tool
    def get_case(self, case_id: str) -> dict:
        """Read a case in full: parties, interviews (with summaries), notes and any finding.

        Args:
            case_id: The case's id, e.g. "GRV-0419".
        """
        return self._case(case_id)

    @tool
    def add_case_note(self, case_id: str, note: str) -> dict:
        """Add a note to a case file.

        Args:
            case_id: The case.
            note: The note text.
        """
        case = self._case(case_id)
        if not note.strip():
            raise ToolError("the note is empty")
        self._note(case, note)
        return {"case_id": case_id, "notes": len(case["notes"])}

    @tool
    def schedule_interview(
        self,
        case_id: str,
        employee_id: str,
        interview_date: str,
        role: Literal["complainant", "respondent", "witness"] = "witness",
    ) -> dict:
        """Schedule an investigation interview on a case.

        Args:
            case_id: The open case.
            employee_id: Who is to be interviewed.
            interview_date: The date, YYYY-MM-DD; not in the past and not during approved leave.
            role: The interviewee's role: complainant, respondent or witness.
        """
        case = self._open_case(case_id)
        employee = self._employee(employee_id)
        if employee["status"] == "left":
            raise ToolError(f"{employee['name']} has left the organisation")
        when = _day(interview_date, "interview_date")
        if when < self.clock.now().date():
            raise ToolError(f"{interview_date} is in the past")
        if when.weekday() >= 5:
            raise ToolError(f"{interview_date} is a weekend day")
        leave = self._on_leave(employee_id, when)
        if leave:
            raise ToolError(
                f"{employee['name']} is on approved {leave['approved_as'] or leave['leave_type']} "
                f"leave from {leave['start_date']} to {leave['end_date']}; pick another date"
            )
        interview_id = self.ids.new("INT")
        case["interviews"].append(
            {
                "interview_id": interview_id,
                "employee_id": employee_id,
                "role": role,
                "date": when.isoformat(),
                "status": "scheduled",
                "summary": "",
            }
        )
        case["status"] = "investigating"
        self._note(case, f"Interview {interview_id} scheduled with {employee['name']} on {when}")
        self._audit(f"scheduled interview {interview_id} on {case_id}")
        return {"interview_id": interview_id, "case_id": case_id, "date": when.isoformat()}

    @tool
    def extend_case_deadline(self, case_id: str, new_due_date: str, reason: str) -> dict:
        """Move an open case's due date later, recording why.

        Args:
            case_id: The open case.
            new_due_date: The new due date, YYYY-MM-DD; later than the current one.
            reason: Why more time is needed.
        """
        case = self._open_case(case_id)
        new_due = _day(new_due_date, "new_due_date")
        if case["due_date"] and new_due <= _day(case["due_date"], "due date"):
            raise ToolError(
                f"{new_due_date} is not later than the current due date {case['due_date']}"
            )
        if not reason.strip():
            raise ToolError("give a reason for the extension")
        previous = case["due_date"]
        case["due_date"] = new_due.isoformat()
        self._note(case, f"Due date moved from {previous} to {new_due}: {reason}")
        self._audit(f"extended {case_id} to {new_due}")
        return {"case_id": case_id, "due_date": new_due.isoformat(), "previous": previous}

    @tool
    def record_case_finding(self, case_id: str, finding: Finding, outcome: str) -> dict:
        """Record the investigator's finding and outcome and close the case. Interviews still
        scheduled are cancelled.

        Args:
            case_id: The open case.
            finding: substantiated, partially_substantiated or not_substantiated.
            outcome: The reasoning and the actions that follow (e.g. disciplinary referral).
        """
        case = self._open_case(case_id)
        if case["kind"] not in ("grievance", "investigation"):
            raise ToolError(
                f"{case_id} is a {case['kind']} case; "
                "findings are for grievances and investigations"
            )
        if not outcome.strip():
            raise ToolError("the outcome needs the reasoning for the finding")
        cancelled = []
        for interview in case["interviews"]:
            if interview["status"] == "scheduled":
                interview["status"] = "cancelled"
                cancelled.append(interview["interview_id"])
        case.update(finding=finding, outcome=outcome, status="closed", closed_at=self.clock.iso())
        self._note(case, f"Finding: {finding}. {outcome}")
        self._audit(f"closed {case_id} with finding {finding}")
        return {
            "case_id": case_id,
            "status": "closed",
            "finding": finding,
            "cancelled_interviews": cancelled,
        }

    # -- performance --------------------------------------------------------------------------

    @tool
    def get_performance_notes(self, employee_id: str) -> dict:
        """Read an employee's performance notes (oldest first) and any improvement plans.

        Args:
            employee_id: The employee.
        """
        self._employee(employee_id)
        notes = sorted(
            (
                n
                for n in self.state["performance_notes"].values()
                if n["employee_id"] == employee_id
            ),
            key=lambda n: n["date"],
        )
        pips = [p for p in self.state["pips"].values() if p["employee_id"] == employee_id]
        return {"employee_id": employee_id, "notes": notes, "pips": pips}

    @tool
    def add_performance_note(
        self,
        employee_id: str,
        kind: Literal["review", "concern", "informal_support", "praise"],
        text: str,
    ) -> dict:
        """Add a note to an employee's performance record.

        Args:
            employee_id: The employee.
            kind: review, concern, informal_support or praise.
            text: The note.
        """
        self._employee(employee_id)
        if not text.strip():
            raise ToolError("the note is empty")
        note_id = self.ids.new("PN")
        self.state["performance_notes"][note_id] = {
            "note_id": note_id,
            "employee_id": employee_id,
            "date": self.clock.today(),
            "author": self.state["caseworker"],
            "kind": kind,
            "text": text,
            "metrics": {},
        }
        return {"note_id": note_id}

    @tool
    def start_pip(
        self, employee_id: str, objectives: list[str], review_date: str, support: str = ""
    ) -> dict:
        """Open a formal Performance Improvement Plan for an employee.

        Args:
            employee_id: The employee.
            objectives: Measurable objectives for the plan period.
            review_date: Final review date, YYYY-MM-DD; between 4 and 12 weeks from today.
            support: Training, coaching or adjustments offered during the plan.
        """
        employee = self._employee(employee_id)
        if employee["status"] != "active":
            raise ToolError(f"{employee['name']} is {employee['status']}")
        if any(
            p["employee_id"] == employee_id and p["status"] == "active"
            for p in self.state["pips"].values()
        ):
            raise ToolError(f"{employee['name']} already has an active plan")
        if not [o for o in objectives if o.strip()]:
            raise ToolError("a plan needs at least one objective")
        review = _day(review_date, "review_date")
        weeks = (review - self.clock.now().date()).days / 7
        if not 4 <= weeks <= 12:
            raise ToolError(
                f"the review date must be 4 to 12 weeks away; {review_date} is "
                f"{weeks:.1f} weeks away"
            )
        pip_id = self.ids.new("PIP")
        self.state["pips"][pip_id] = {
            "pip_id": pip_id,
            "employee_id": employee_id,
            "manager_id": employee["manager_id"],
            "start_date": self.clock.today(),
            "review_date": review.isoformat(),
            "objectives": objectives,
            "support": support,
            "status": "active",
        }
        note_id = self.ids.new("PN")
        self.state["performance_notes"][note_id] = {
            "note_id": note_id,
            "employee_id": employee_id,
            "date": self.clock.today(),
            "author": self.state["caseworker"],
            "kind": "pip",
            "text": f"Plan {pip_id} opened, review {review}: " + "; ".join(objectives),
            "metrics": {},
        }
        self._audit(f"opened {pip_id} for {employee_id}")
        return {"pip_id": pip_id, "employee_id": employee_id, "review_date": review.isoformat()}

    # -- redeployment -------------------------------------------------------------------------

    @tool
    def list_vacancies(self, department: str | None = None) -> list[dict]:
        """List internal vacancies.

        Args:
            department: Only vacancies in this department.
        """
        return [
            v
            for v in self.state["vacancies"].values()
            if department is None or v["department"].casefold() == department.casefold()
        ]

    @tool
    def create_transfer(
        self, employee_id: str, vacancy_id: str, effective_date: str, reason: str
    ) -> dict:
        """Propose moving an employee into an open internal vacancy (the vacancy is held for
        them until the move is confirmed or withdrawn).

        Args:
            employee_id: The employee to move.
            vacancy_id: The open vacancy.
            effective_date: When the move takes effect, YYYY-MM-DD; not in the past.
            reason: Why, for the employee's record.
        """
        employee = self._employee(employee_id)
        vacancy = self.lookup("vacancies", vacancy_id, "vacancy")
        if vacancy["status"] != "open":
            raise ToolError(f"{vacancy_id} is {vacancy['status']}")
        if employee["status"] not in ("active", "on_leave"):
            raise ToolError(f"{employee['name']} is {employee['status']}")
        if any(
            t["employee_id"] == employee_id and t["status"] == "proposed"
            for t in self.state["transfers"].values()
        ):
            raise ToolError(f"{employee['name']} already has a proposed transfer")
        when = _day(effective_date, "effective_date")
        if when < self.clock.now().date():
            raise ToolError(f"{effective_date} is in the past")
        if not reason.strip():
            raise ToolError("give a reason for the transfer")
        transfer_id = self.ids.new("TRF")
        self.state["transfers"][transfer_id] = {
            "transfer_id": transfer_id,
            "employee_id": employee_id,
            "vacancy_id": vacancy_id,
            "from_title": employee["job_title"],
            "to_title": vacancy["title"],
            "to_department": vacancy["department"],
            "effective_date": when.isoformat(),
            "reason": reason,
            "status": "proposed",
            "created_at": self.clock.iso(),
        }
        vacancy["status"] = "held"
        note_id = self.ids.new("PN")
        self.state["performance_notes"][note_id] = {
            "note_id": note_id,
            "employee_id": employee_id,
            "date": self.clock.today(),
            "author": self.state["caseworker"],
            "kind": "redeployment",
            "text": f"Transfer {transfer_id} proposed to {vacancy['title']} from {when}: {reason}",
            "metrics": {},
        }
        self._audit(f"proposed {transfer_id}: {employee_id} -> {vacancy_id}")
        return {"transfer_id": transfer_id, "status": "proposed", "to_title": vacancy["title"]}

    # -- policy and messaging -----------------------------------------------------------------

    @tool
    def list_policies(self) -> list[dict]:
        """List the policies in the policy library with their titles and owners."""
        return [
            {"policy_id": pid, "title": p["title"], "owner": p["owner"]}
            for pid, p in self.state["policies"].items()
        ]

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read a policy's full text.

        Args:
            policy_id: The policy's id, e.g. "bereavement-leave".
        """
        return {
            "policy_id": policy_id,
            **self.lookup("policies", policy_id, "policy", list_known=True),
        }

    @tool
    def request_policy_exception(
        self,
        policy_id: str,
        employee_id: str,
        justification: str,
        approver_id: str,
        request_id: str | None = None,
    ) -> dict:
        """Ask the person who can grant it for an exception to a policy for one employee.

        Args:
            policy_id: The policy.
            employee_id: The employee the exception is for.
            justification: The circumstances and what is asked for.
            approver_id: The employee id of the person who can approve it (usually the policy
                owner).
            request_id: The leave request concerned, if any.
        """
        if policy_id not in self.state["policies"]:
            raise ToolError(f"no policy {policy_id!r}")
        self._employee(employee_id)
        approver = self._employee(approver_id)
        if request_id:
            self.lookup("leave_requests", request_id, "leave request")
        if not justification.strip():
            raise ToolError("an exception request needs a justification")
        exception_id = self.ids.new("EXC")
        self.state["exception_requests"][exception_id] = {
            "exception_id": exception_id,
            "policy_id": policy_id,
            "employee_id": employee_id,
            "request_id": request_id,
            "justification": justification,
            "approver_id": approver_id,
            "requested_by": self.state["caseworker"],
            "requested_at": self.clock.iso(),
            "status": "pending",
        }
        self._audit(f"requested exception {exception_id} to {policy_id} for {employee_id}")
        result = {"exception_id": exception_id, "status": "pending", "approver": approver["name"]}
        today = self.clock.now().date()
        leave = self._on_leave(approver_id, today)
        if leave:
            result["approver_away_until"] = leave["end_date"]
        return result

    @tool
    def send_message(self, to: str, subject: str, body: str) -> dict:
        """Send an internal message to an employee or manager.

        Args:
            to: The recipient's employee id.
            subject: Subject line.
            body: The message.
        """
        recipient = self._employee(to)
        if not body.strip():
            raise ToolError("the message is empty")
        message_id = self.ids.new("MSG")
        self.state["messages"].append(
            {
                "message_id": message_id,
                "to": to,
                "subject": subject,
                "body": body,
                "sender": self.state["caseworker"],
                "sent_at": self.clock.iso(),
            }
        )
        return {"message_id": message_id, "to": recipient["name"]}
