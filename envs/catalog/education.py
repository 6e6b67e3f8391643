"""Education: the course office of a university department.

Students and their enrolments, assignments and submissions, extension requests, grading with
late penalties, grade changes, academic-integrity referrals, messages and final-grade returns to
the registrar. The agent works the course-office desk on behalf of the teaching staff.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool

OFFICE_ID = "course-office"

# Letter grades by minimum percentage, highest first.
GRADE_SCALE: list[tuple[float, str]] = [
    (93, "A"),
    (90, "A-"),
    (87, "B+"),
    (83, "B"),
    (80, "B-"),
    (77, "C+"),
    (73, "C"),
    (70, "C-"),
    (67, "D+"),
    (60, "D"),
    (0, "F"),
]


class Student(StateModel):
    student_id: str
    name: str
    email: str = ""
    program: str = ""
    year: int = 1
    status: Literal["active", "on_leave", "withdrawn", "graduated"] = "active"
    graduating_this_term: bool = False
    advisor_id: str | None = None
    accommodations: list[str] = []
    notes: list[str] = []


class StaffMember(StateModel):
    staff_id: str
    name: str
    role: Literal[
        "instructor",
        "teaching_assistant",
        "course_coordinator",
        "registrar",
        "integrity_officer",
        "dean_of_students",
        "advisor",
        "department_chair",
        "it_support",
    ]
    department: str = ""
    email: str = ""
    out_of_office: str = ""


class Course(StateModel):
    course_id: str
    title: str
    term: str = ""
    instructor_id: str
    ta_ids: list[str] = []
    final_grades_due_at: str | None = None
    final_grades_status: Literal["open", "submitted"] = "open"
    final_grades_submitted_at: str | None = None
    collaboration_policy: str = ""


class Enrolment(StateModel):
    enrolment_id: str
    student_id: str
    course_id: str
    status: Literal["enrolled", "withdrawn", "audit"] = "enrolled"
    final_percent: float | None = None
    final_grade: str | None = None


class Assignment(StateModel):
    assignment_id: str
    course_id: str
    title: str
    due_at: str
    max_points: float = 100
    weight: float = 0  # percent of the course grade
    late_penalty_pct_per_day: float = 0
    max_late_days: int = 0
    grades_released: bool = False
    # None: no moderation step; otherwise where the assignment's moderation stands
    moderation_status: (
        Literal["pending", "comparative_judgement", "second_marking_requested", "second_marked"]
        | None
    ) = None
    moderation_notes: list[str] = []


class Submission(StateModel):
    submission_id: str
    assignment_id: str
    student_id: str
    submitted_at: str | None = None
    status: Literal["submitted", "marked", "graded", "missing", "integrity_hold"] = "submitted"
    raw_score: float | None = None
    score: float | None = None
    late_days: int = 0
    penalty_pct: float = 0
    feedback: str = ""
    marked_by: str | None = None
    similarity: float | None = None
    similarity_detail: list[str] = []
    moderation: str = ""
    history: list[str] = []


class ExtensionRequest(StateModel):
    request_id: str
    student_id: str
    assignment_id: str
    submitted_at: str
    reason: str
    documentation: str = "none"
    requested_due_at: str | None = None
    status: Literal["pending", "approved", "declined"] = "pending"
    decided_by: str | None = None
    decided_at: str | None = None
    new_due_at: str | None = None
    decision_note: str = ""


class GradeChange(StateModel):
    change_id: str
    submission_id: str
    old_score: float | None
    new_score: float
    reason: str
    changed_at: str
    status: Literal["applied", "pending_registrar"] = "applied"


class IntegrityReport(StateModel):
    report_id: str
    course_id: str
    assignment_id: str
    student_ids: list[str]
    allegation: str
    evidence: str
    filed_at: str
    status: Literal["referred", "under_review", "closed"] = "referred"


class Message(StateModel):
    message_id: str
    sender_id: str
    recipient_id: str
    subject: str
    body: str
    sent_at: str


class GradeAppeal(StateModel):
    appeal_id: str
    student_id: str
    submission_id: str
    grounds: str
    filed_at: str
    status: Literal["open", "decided", "reopened", "closed"] = "open"
    decision: str = ""
    decided_at: str | None = None
    follow_ups: list[str] = []
    history: list[str] = []


class EducationState(StateModel):
    institution: str = "Ashgrove University"
    term: str = "Spring 2026"
    students: dict[str, Student] = {}
    staff: dict[str, StaffMember] = {}
    courses: dict[str, Course] = {}
    enrolments: dict[str, Enrolment] = {}
    assignments: dict[str, Assignment] = {}
    submissions: dict[str, Submission] = {}
    extension_requests: dict[str, ExtensionRequest] = {}
    grade_changes: list[GradeChange] = []
    integrity_reports: dict[str, IntegrityReport] = {}
    grade_appeals: dict[str, GradeAppeal] = {}
    messages: list[Message] = []
    policies: dict[str, str] = {}
    audit_log: list[str] = []


def _parse_time(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ToolError(
            f"{what} {value!r} is not an ISO 8601 date-time, e.g. 2026-03-02T23:59:00+00:00"
        ) from exc
    if parsed.tzinfo is None:
        raise ToolError(f"{what} {value!r} needs a UTC offset, e.g. 2026-03-02T23:59:00+00:00")
    return parsed


def _letter(percent: float) -> str:
    return next(letter for floor, letter in GRADE_SCALE if percent >= floor)


class Education(ToolEnv):
    name = "education"
    description = (
        "The course office of a university department: students, enrolments, assignments and "
        "submissions, extensions, grading, integrity referrals, messages and final grades."
    )
    State = EducationState

    # -- helpers ------------------------------------------------------------------------------

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {line}")

    def _person_name(self, person_id: str) -> str:
        if person_id in self.state["students"]:
            return self.state["students"][person_id]["name"]
        if person_id in self.state["staff"]:
            return self.state["staff"][person_id]["name"]
        return person_id

    def _approved_extension(self, student_id: str, assignment_id: str) -> dict | None:
        approved = [
            r
            for r in self.state["extension_requests"].values()
            if r["student_id"] == student_id
            and r["assignment_id"] == assignment_id
            and r["status"] == "approved"
            and r["new_due_at"]
        ]
        return max(approved, key=lambda r: r["new_due_at"]) if approved else None

    def _effective_due(self, submission: dict) -> str:
        assignment = self.state["assignments"][submission["assignment_id"]]
        extension = self._approved_extension(submission["student_id"], assignment["assignment_id"])
        return extension["new_due_at"] if extension else assignment["due_at"]

    def _late_days(self, submission: dict) -> int:
        if not submission["submitted_at"]:
            return 0
        due = _parse_time(self._effective_due(submission), "due date")
        submitted = _parse_time(submission["submitted_at"], "submission time")
        seconds = (submitted - due).total_seconds()
        return math.ceil(seconds / 86400) if seconds > 0 else 0

    def _send(self, sender: str, recipient: str, subject: str, body: str) -> dict:
        message = {
            "message_id": self.ids.new("MSG"),
            "sender_id": sender,
            "recipient_id": recipient,
            "subject": subject,
            "body": body,
            "sent_at": self.clock.iso(),
        }
        self.state["messages"].append(message)
        return message

    def _enrolled(self, course_id: str) -> list[dict]:
        return [
            e
            for e in self.state["enrolments"].values()
            if e["course_id"] == course_id and e["status"] == "enrolled"
        ]

    # -- reads --------------------------------------------------------------------------------

    @tool
    def get_course(self, course_id: str) -> dict:
        """Read a course: its staff, final-grade deadline and status, and its assignments.

        Args:
            course_id: The course's id, e.g. "BIO-210".
        """
        course = self.lookup("courses", course_id)
        assignments = [
            {
                k: a[k]
                for k in (
                    "assignment_id",
                    "title",
                    "due_at",
                    "max_points",
                    "weight",
                    "late_penalty_pct_per_day",
                    "max_late_days",
                    "grades_released",
                )
            }
            for a in self.state["assignments"].values()
            if a["course_id"] == course_id
        ]
        staff = [course["instructor_id"], *course["ta_ids"]]
        return {
            **course,
            "staff": [
                {
                    "staff_id": s,
                    "name": self._person_name(s),
                    "role": self.state["staff"].get(s, {}).get("role"),
                }
                for s in staff
            ],
            "assignments": assignments,
            "enrolled": len(self._enrolled(course_id)),
        }

    @tool
    def list_enrolments(self, course_id: str) -> list[dict]:
        """List a course's roster with each student's status and any final grade.

        Args:
            course_id: The course's id.
        """
        self.lookup("courses", course_id)
        rows = []
        for e in self.state["enrolments"].values():
            if e["course_id"] != course_id:
                continue
            student = self.state["students"].get(e["student_id"], {})
            rows.append(
                {
                    **e,
                    "name": student.get("name"),
                    "graduating_this_term": student.get("graduating_this_term", False),
                }
            )
        return rows

    @tool
    def get_student(self, student_id: str) -> dict:
        """Read a student's record: programme, year, registered accommodations and notes.

        Args:
            student_id: The student's id, e.g. "S-3318".
        """
        return self.lookup("students", student_id)

    @tool
    def list_submissions(self, assignment_id: str) -> list[dict]:
        """List every submission for an assignment with its status, scores and lateness.

        Lateness is measured against the student's effective deadline (any approved extension).

        Args:
            assignment_id: The assignment's id.
        """
        self.lookup("assignments", assignment_id)
        rows = []
        for s in self.state["submissions"].values():
            if s["assignment_id"] != assignment_id:
                continue
            rows.append(
                {
                    "submission_id": s["submission_id"],
                    "student_id": s["student_id"],
                    "name": self._person_name(s["student_id"]),
                    "submitted_at": s["submitted_at"],
                    "status": s["status"],
                    "raw_score": s["raw_score"],
                    "score": s["score"],
                    "effective_due_at": self._effective_due(s),
                    "late_days": self._late_days(s),
                    "similarity": s["similarity"],
                }
            )
        return rows

    @tool
    def get_submission(self, submission_id: str) -> dict:
        """Read one submission in full: marker's score and feedback, similarity matches, history.

        Args:
            submission_id: The submission's id.
        """
        submission = self.lookup("submissions", submission_id)
        assignment = self.state["assignments"][submission["assignment_id"]]
        extension = self._approved_extension(submission["student_id"], assignment["assignment_id"])
        return {
            **submission,
            "student_name": self._person_name(submission["student_id"]),
            "assignment_title": assignment["title"],
            "due_at": assignment["due_at"],
            "effective_due_at": self._effective_due(submission),
            "extension_id": extension["request_id"] if extension else None,
            "late_days_now": self._late_days(submission),
        }

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read an academic policy by its id.

        Args:
            policy_id: The policy's id, e.g. "late-work".
        """
        return {
            "policy_id": policy_id,
            "text": self.lookup("policies", policy_id, "policy", list_known=True),
        }

    @tool
    def list_extension_requests(
        self, assignment_id: str | None = None, status: str | None = None
    ) -> list[dict]:
        """List extension requests, optionally for one assignment or with one status.

        Args:
            assignment_id: Only requests for this assignment.
            status: Only requests with this status: pending, approved or declined.
        """
        return [
            {**r, "student_name": self._person_name(r["student_id"])}
            for r in self.state["extension_requests"].values()
            if (assignment_id is None or r["assignment_id"] == assignment_id)
            and (status is None or r["status"] == status)
        ]

    @tool
    def list_messages(self, participant_id: str | None = None) -> list[dict]:
        """List messages in the course-office mailbox, oldest first.

        Args:
            participant_id: Only messages sent by or to this student or staff member.
        """
        return [
            m
            for m in self.state["messages"]
            if participant_id is None or participant_id in (m["sender_id"], m["recipient_id"])
        ]

    # -- writes -------------------------------------------------------------------------------

    @tool
    def decide_extension_request(
        self,
        request_id: str,
        decision: Literal["approve", "decline"],
        note: str,
        new_due_at: str | None = None,
    ) -> dict:
        """Approve or decline a pending extension request. The student is not messaged by this.

        Args:
            request_id: The request's id, e.g. "EXR-421".
            decision: "approve" or "decline".
            note: The reason for the decision, kept on the request.
            new_due_at: For an approval, the new deadline (ISO 8601 with offset); defaults to the
                date the student asked for.
        """
        request = self.lookup("extension_requests", request_id, "extension request")
        if request["status"] != "pending":
            raise ToolError(f"request {request_id} was already {request['status']}")
        if not note.strip():
            raise ToolError("a note explaining the decision is required")
        assignment = self.state["assignments"][request["assignment_id"]]
        result: dict = {"request_id": request_id, "status": None}
        if decision == "approve":
            target = new_due_at or request["requested_due_at"]
            if not target:
                raise ToolError("the student gave no date; set new_due_at for the approval")
            if _parse_time(target, "new_due_at") <= _parse_time(assignment["due_at"], "due date"):
                raise ToolError(
                    f"new_due_at must be after the original deadline {assignment['due_at']}"
                )
            request["status"] = "approved"
            request["new_due_at"] = target
            result["new_due_at"] = target
        else:
            if new_due_at:
                raise ToolError("new_due_at only applies to an approval")
            request["status"] = "declined"
        request["decided_by"] = OFFICE_ID
        request["decided_at"] = self.clock.iso()
        request["decision_note"] = note
        result["status"] = request["status"]
        graded = [
            s["submission_id"]
            for s in self.state["submissions"].values()
            if s["student_id"] == request["student_id"]
            and s["assignment_id"] == request["assignment_id"]
            and s["status"] == "graded"
        ]
        if graded:
            result["warning"] = (
                f"submission {graded[0]} is already graded; a changed deadline does not regrade "
                "it (use change_grade)"
            )
        self._audit(f"extension {request_id} {request['status']}")
        return result

    @tool
    def grade_submission(
        self,
        submission_id: str,
        raw_score: float | None = None,
        feedback: str = "",
        waive_late_penalty: bool = False,
        waiver_reason: str = "",
    ) -> dict:
        """Finalise the grade of a marked submission, applying the late-work penalty.

        The penalty is computed against the student's effective deadline (any approved
        extension): the assignment's percentage per day or part day late, and zero beyond its
        late window.

        Args:
            submission_id: The submission to grade.
            raw_score: The mark before penalties; defaults to the marker's score.
            feedback: Feedback to add for the student.
            waive_late_penalty: Do not apply the late penalty (needs waiver_reason).
            waiver_reason: Why the penalty is waived; kept in the submission's history.
        """
        submission = self.lookup("submissions", submission_id)
        assignment = self.state["assignments"][submission["assignment_id"]]
        if submission["status"] == "integrity_hold":
            raise ToolError(
                f"{submission_id} is referred to the Academic Integrity Office; its grade is "
                "withheld until the Office decides"
            )
        if submission["status"] == "graded":
            raise ToolError(f"{submission_id} is already graded; use change_grade to alter it")
        if submission["status"] == "missing":
            raise ToolError(f"{submission_id} was never submitted")
        raw = raw_score if raw_score is not None else submission["raw_score"]
        if raw is None:
            raise ToolError(f"{submission_id} has not been marked; give raw_score")
        if not 0 <= raw <= assignment["max_points"]:
            raise ToolError(f"raw_score must be between 0 and {assignment['max_points']}")
        if waive_late_penalty and not waiver_reason.strip():
            raise ToolError("waiving the late penalty needs a waiver_reason")
        late = self._late_days(submission)
        if late == 0 or waive_late_penalty:
            penalty = 0.0
        elif late > assignment["max_late_days"]:
            penalty = 100.0
        else:
            penalty = min(100.0, late * assignment["late_penalty_pct_per_day"])
        score = round(raw * (1 - penalty / 100), 2)
        submission.update(
            raw_score=raw,
            score=score,
            late_days=late,
            penalty_pct=penalty,
            status="graded",
        )
        if feedback:
            submission["feedback"] = (
                f"{submission['feedback']}\n{feedback}" if submission["feedback"] else feedback
            )
        note = f"{self.clock.iso()} graded {score} (raw {raw}, {late} day(s) late, -{penalty}%)"
        if waive_late_penalty and late:
            note += f"; late penalty waived: {waiver_reason}"
        submission["history"].append(note)
        self._audit(f"{submission_id} graded {score}")
        return {
            "submission_id": submission_id,
            "raw_score": raw,
            "late_days": late,
            "penalty_pct": penalty,
            "score": score,
            "max_points": assignment["max_points"],
        }

    @tool
    def change_grade(self, submission_id: str, new_score: float, reason: str) -> dict:
        """Change the recorded score of a graded submission, with a reason for the audit trail.

        After a course's final grades have gone to the registrar, the change is filed as a
        request for the registrar to approve instead of being applied.

        Args:
            submission_id: The graded submission.
            new_score: The corrected score (in the assignment's points).
            reason: Why the score is changed.
        """
        submission = self.lookup("submissions", submission_id)
        assignment = self.state["assignments"][submission["assignment_id"]]
        course = self.state["courses"][assignment["course_id"]]
        if submission["status"] != "graded":
            raise ToolError(f"{submission_id} is {submission['status']}, not graded")
        if not 0 <= new_score <= assignment["max_points"]:
            raise ToolError(f"new_score must be between 0 and {assignment['max_points']}")
        if not reason.strip():
            raise ToolError("a reason is required for a grade change")
        old = submission["score"]
        pending = course["final_grades_status"] == "submitted"
        change = {
            "change_id": self.ids.new("GCH"),
            "submission_id": submission_id,
            "old_score": old,
            "new_score": new_score,
            "reason": reason,
            "changed_at": self.clock.iso(),
            "status": "pending_registrar" if pending else "applied",
        }
        self.state["grade_changes"].append(change)
        if not pending:
            submission["score"] = new_score
        submission["history"].append(
            f"{self.clock.iso()} grade change {old} -> {new_score} ({change['status']}): {reason}"
        )
        self._audit(f"{submission_id} grade change {old} -> {new_score} {change['status']}")
        return change

    @tool
    def release_grades(self, assignment_id: str) -> dict:
        """Publish an assignment's grades to its students.

        Every marked submission must be graded first; work referred for an integrity review
        stays hidden until the review ends.

        Args:
            assignment_id: The assignment whose grades to release.
        """
        assignment = self.lookup("assignments", assignment_id)
        subs = [
            s for s in self.state["submissions"].values() if s["assignment_id"] == assignment_id
        ]
        pending = [s["submission_id"] for s in subs if s["status"] in ("submitted", "marked")]
        if pending:
            raise ToolError(
                f"submissions not yet graded: {', '.join(pending)}; grade them (or refer them) "
                "before releasing"
            )
        if assignment["moderation_status"] in ("pending", "second_marking_requested"):
            raise ToolError(
                f"{assignment_id} is not moderated yet ({assignment['moderation_status']}); "
                "grades are released after moderation"
            )
        assignment["grades_released"] = True
        held = [s["submission_id"] for s in subs if s["status"] == "integrity_hold"]
        released = [s["submission_id"] for s in subs if s["status"] in ("graded", "missing")]
        self._audit(f"grades released for {assignment_id}")
        return {"assignment_id": assignment_id, "released": len(released), "withheld": held}

    @tool
    def run_comparative_moderation(self, assignment_id: str) -> dict:
        """Moderate an assignment by comparative judgement: markers rank pairs of scripts and
        the marks are checked against the ranking. Reports agreement and any outliers.

        Args:
            assignment_id: The assignment to moderate.
        """
        assignment = self.lookup("assignments", assignment_id)
        if assignment["moderation_status"] != "pending":
            raise ToolError(
                f"{assignment_id} needs no moderation now ({assignment['moderation_status']})"
            )
        outliers = [
            s["submission_id"]
            for s in self.state["submissions"].values()
            if s["assignment_id"] == assignment_id and "cj_outlier" in s["moderation"]
        ]
        assignment["moderation_status"] = "comparative_judgement"
        note = f"comparative judgement run; outliers: {', '.join(outliers) or 'none'}"
        assignment["moderation_notes"].append(f"{self.clock.iso()} {note}")
        self._audit(f"{assignment_id} moderated by comparative judgement")
        return {
            "assignment_id": assignment_id,
            "status": "comparative_judgement",
            "outliers": outliers,
        }

    @tool
    def request_second_marking(
        self, assignment_id: str, submission_ids: list[str], marker_id: str, note: str
    ) -> dict:
        """Send a sample of an assignment's scripts to a second marker; grades stay unreleased
        until the second marking is back.

        Args:
            assignment_id: The assignment.
            submission_ids: The scripts to second-mark.
            marker_id: The staff member who second-marks them.
            note: What to look at.
        """
        assignment = self.lookup("assignments", assignment_id)
        self.lookup("staff", marker_id, "staff member")
        if assignment["grades_released"]:
            raise ToolError(f"{assignment_id}'s grades are already released")
        if not submission_ids:
            raise ToolError("name the scripts to second-mark")
        for sub_id in submission_ids:
            sub = self.lookup("submissions", sub_id)
            if sub["assignment_id"] != assignment_id:
                raise ToolError(f"{sub_id} is not a submission for {assignment_id}")
        assignment["moderation_status"] = "second_marking_requested"
        assignment["moderation_notes"].append(
            f"{self.clock.iso()} second marking of {', '.join(submission_ids)} "
            f"by {marker_id}: {note}"
        )
        self._audit(f"second marking requested for {assignment_id}")
        return {
            "assignment_id": assignment_id,
            "status": "second_marking_requested",
            "scripts": len(submission_ids),
        }

    @tool
    def get_grade_appeal(self, appeal_id: str) -> dict:
        """Read a grade appeal: its grounds, the decision and any follow-ups since.

        Args:
            appeal_id: The appeal, e.g. "GA-12".
        """
        return self.lookup("grade_appeals", appeal_id, "grade appeal")

    @tool
    def reopen_grade_appeal(self, appeal_id: str, reason: str) -> dict:
        """Reopen a decided appeal to look at something it did not consider.

        Args:
            appeal_id: The decided appeal.
            reason: What is to be looked at.
        """
        appeal = self.lookup("grade_appeals", appeal_id, "grade appeal")
        if appeal["status"] != "decided":
            raise ToolError(f"{appeal_id} is {appeal['status']}; only decided appeals reopen")
        if not reason.strip():
            raise ToolError("say what the reopened appeal will look at")
        appeal["status"] = "reopened"
        appeal["history"].append(f"{self.clock.iso()} reopened: {reason}")
        self._audit(f"{appeal_id} reopened")
        return {"appeal_id": appeal_id, "status": "reopened"}

    @tool
    def confirm_grade_appeal(self, appeal_id: str, note: str) -> dict:
        """Confirm a decided appeal as final; the student is told the decision stands.

        Args:
            appeal_id: The decided appeal.
            note: The reasons, for the student and the record.
        """
        appeal = self.lookup("grade_appeals", appeal_id, "grade appeal")
        if appeal["status"] != "decided":
            raise ToolError(
                f"{appeal_id} is {appeal['status']}; only decided appeals are confirmed"
            )
        if not note.strip():
            raise ToolError("give the reasons")
        appeal["status"] = "closed"
        appeal["history"].append(f"{self.clock.iso()} confirmed final: {note}")
        self._send("course-office", appeal["student_id"], f"Your appeal {appeal_id}", note)
        self._audit(f"{appeal_id} confirmed final")
        return {"appeal_id": appeal_id, "status": "closed"}

    @tool
    def file_integrity_report(
        self,
        course_id: str,
        assignment_id: str,
        student_ids: list[str],
        allegation: str,
        evidence: str,
    ) -> dict:
        """Refer suspected academic misconduct to the Academic Integrity Office.

        The referred submissions are put on hold: their grades are withheld until the Office
        decides. The Office contacts the students itself.

        Args:
            course_id: The course.
            assignment_id: The assignment concerned.
            student_ids: The students whose work is referred.
            allegation: What is suspected, in a sentence or two.
            evidence: What the suspicion rests on (matched passages, scores, dates).
        """
        self.lookup("courses", course_id)
        assignment = self.lookup("assignments", assignment_id)
        if assignment["course_id"] != course_id:
            raise ToolError(f"{assignment_id} is not an assignment of {course_id}")
        if not student_ids:
            raise ToolError("name at least one student")
        if not allegation.strip() or not evidence.strip():
            raise ToolError("both an allegation and the evidence are required")
        held = []
        for student_id in student_ids:
            self.lookup("students", student_id)
            subs = [
                s
                for s in self.state["submissions"].values()
                if s["assignment_id"] == assignment_id and s["student_id"] == student_id
            ]
            if not subs:
                raise ToolError(f"{student_id} has no submission for {assignment_id}")
            for s in subs:
                if s["status"] == "graded" and assignment["grades_released"]:
                    raise ToolError(
                        f"{s['submission_id']}'s grade is already released; the Office must be "
                        "asked to review it directly"
                    )
                s["status"] = "integrity_hold"
                s["history"].append(f"{self.clock.iso()} referred to Academic Integrity Office")
                held.append(s["submission_id"])
        report_id = self.ids.new("AIR")
        self.state["integrity_reports"][report_id] = {
            "report_id": report_id,
            "course_id": course_id,
            "assignment_id": assignment_id,
            "student_ids": list(student_ids),
            "allegation": allegation,
            "evidence": evidence,
            "filed_at": self.clock.iso(),
            "status": "referred",
        }
        officers = [s for s in self.state["staff"].values() if s["role"] == "integrity_officer"]
        if officers:
            self._send(
                OFFICE_ID,
                officers[0]["staff_id"],
                f"Integrity referral {report_id}: {course_id} {assignment_id}",
                f"{allegation}\n\nEvidence: {evidence}",
            )
        self._audit(f"integrity report {report_id} filed for {', '.join(student_ids)}")
        return {"report_id": report_id, "status": "referred", "submissions_on_hold": held}

    @tool
    def send_message(self, recipient_id: str, subject: str, body: str) -> dict:
        """Send a message from the course office to a student or a member of staff.

        Args:
            recipient_id: A student id (e.g. "S-3318") or staff id (e.g. "F-101").
            subject: The subject line.
            body: The message text.
        """
        if recipient_id not in self.state["students"] and recipient_id not in self.state["staff"]:
            raise ToolError(f"no student or staff member with id {recipient_id!r}")
        if not body.strip():
            raise ToolError("the message body is empty")
        message = self._send(OFFICE_ID, recipient_id, subject, body)
        result = {"message_id": message["message_id"], "to": self._person_name(recipient_id)}
        away = self.state["staff"].get(recipient_id, {}).get("out_of_office")
        if away:
            result["auto_reply"] = away
        return result

    @tool
    def add_student_note(self, student_id: str, note: str) -> dict:
        """Add a note to a student's record (visible to their advisor and teaching staff).

        Args:
            student_id: The student.
            note: The note text.
        """
        student = self.lookup("students", student_id)
        if not note.strip():
            raise ToolError("the note is empty")
        student["notes"].append(f"{self.clock.today()} {note}")
        return {"student_id": student_id, "notes": len(student["notes"])}

    @tool
    def submit_final_grades(
        self, course_id: str, withhold_student_ids: list[str] | None = None
    ) -> dict:
        """Compute and send a course's final grades to the registrar.

        Final percentages are the weighted sum of each assignment's score; missing work counts
        as zero. Withheld students are reported as NR (not reported) for now. Every other
        student's work must be graded. Once sent, later grade changes need registrar approval.

        Args:
            course_id: The course.
            withhold_student_ids: Students whose grade is not reported yet (NR).
        """
        course = self.lookup("courses", course_id)
        if course["final_grades_status"] == "submitted":
            raise ToolError(f"final grades for {course_id} were already submitted")
        withheld = list(withhold_student_ids or [])
        enrolled = self._enrolled(course_id)
        enrolled_ids = {e["student_id"] for e in enrolled}
        strangers = [s for s in withheld if s not in enrolled_ids]
        if strangers:
            raise ToolError(f"not enrolled in {course_id}: {', '.join(strangers)}")
        assignments = [a for a in self.state["assignments"].values() if a["course_id"] == course_id]
        results: dict[str, dict] = {}
        problems = []
        for e in enrolled:
            sid = e["student_id"]
            if sid in withheld:
                results[sid] = {"final_percent": None, "final_grade": "NR"}
                continue
            total = 0.0
            for a in assignments:
                subs = [
                    s
                    for s in self.state["submissions"].values()
                    if s["assignment_id"] == a["assignment_id"] and s["student_id"] == sid
                ]
                sub = subs[0] if subs else None
                if sub is None or sub["status"] == "missing":
                    continue
                if sub["status"] != "graded" or sub["score"] is None:
                    problems.append(f"{sub['submission_id']} ({sid}) is {sub['status']}")
                    continue
                total += sub["score"] / a["max_points"] * a["weight"]
            percent = round(total, 2)
            results[sid] = {"final_percent": percent, "final_grade": _letter(percent)}
        if problems:
            raise ToolError(
                "cannot submit while work is ungraded: "
                + "; ".join(problems)
                + " (grade it, or withhold the student)"
            )
        for e in enrolled:
            e["final_percent"] = results[e["student_id"]]["final_percent"]
            e["final_grade"] = results[e["student_id"]]["final_grade"]
        course["final_grades_status"] = "submitted"
        course["final_grades_submitted_at"] = self.clock.iso()
        late = bool(
            course["final_grades_due_at"]
            and self.clock.now() > _parse_time(course["final_grades_due_at"], "deadline")
        )
        self._audit(f"final grades submitted for {course_id}" + (" (late)" if late else ""))
        return {
            "course_id": course_id,
            "submitted_at": course["final_grades_submitted_at"],
            "late": late,
            "grades": {
                sid: {"name": self._person_name(sid), **r} for sid, r in sorted(results.items())
            },
        }
