"""Content moderation: a trust and safety queue of reported posts, accounts, appeals and policy."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool


class Strike(StateModel):
    strike_id: str
    guideline_id: str
    post_id: str | None = None
    issued_at: str
    expires_on: str
    source: Literal["moderator", "automated"] = "moderator"
    active: bool = True


class User(StateModel):
    user_id: str
    handle: str
    display_name: str = ""
    joined: str = ""
    account_type: Literal["personal", "creator", "news_organisation", "business", "community"] = (
        "personal"
    )
    verified: bool = False
    followers: int = 0
    status: Literal["active", "restricted", "suspended"] = "active"
    status_reason: str = ""
    suspended_until: str | None = None
    strikes: list[Strike] = []
    trust_signals: list[str] = []
    groups_admin: list[str] = []
    notes: list[str] = []


class Post(StateModel):
    post_id: str
    author_id: str
    created_at: str
    text: str
    media: list[str] = []
    group: str | None = None
    views: int = 0
    shares: int = 0
    status: Literal["visible", "removed"] = "visible"
    labels: list[str] = []
    removed_under: str | None = None
    removed_by: str | None = None
    history: list[str] = []


class Report(StateModel):
    report_id: str
    post_id: str
    reporter_id: str
    reason: str
    detail: str = ""
    created_at: str
    status: Literal["open", "resolved"] = "open"
    outcome: str | None = None
    resolution_note: str = ""


class Guideline(StateModel):
    guideline_id: str
    title: str
    text: str


class Appeal(StateModel):
    appeal_id: str
    user_id: str
    post_id: str | None = None
    strike_id: str | None = None
    action_appealed: str
    statement: str
    filed_at: str
    queue_position: int | None = None
    status: Literal["open", "upheld", "overturned"] = "open"
    decided_by: str | None = None
    decision_note: str = ""


class PolicyNote(StateModel):
    note_id: str
    subject: str
    detail: str
    related_ids: list[str] = []
    author: str
    created_at: str


class Notice(StateModel):
    notice_id: str
    user_id: str
    kind: str
    message: str
    sent_at: str


class ModerationState(StateModel):
    platform: str = "Platform"
    moderator_id: str = "MOD-1"
    suspension_threshold: int = 3
    strike_days: int = 90
    users: dict[str, User] = {}
    posts: dict[str, Post] = {}
    reports: dict[str, Report] = {}
    guidelines: dict[str, Guideline] = {}
    appeals: dict[str, Appeal] = {}
    policy_notes: dict[str, PolicyNote] = {}
    notices: dict[str, Notice] = {}
    audit_log: list[str] = []


class ContentModeration(ToolEnv):
    name = "content_moderation"
    description = (
        "The trust and safety console of a social platform: reported posts, accounts and their "
        "strike history, community guidelines, enforcement actions, appeals and notes to the "
        "policy team."
    )
    State = ModerationState

    # -- helpers ------------------------------------------------------------------------------

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {self.state['moderator_id']} {line}")

    def _notify(self, user_id: str, kind: str, message: str) -> str:
        notice_id = self.ids.new("NTC")
        self.state["notices"][notice_id] = {
            "notice_id": notice_id,
            "user_id": user_id,
            "kind": kind,
            "message": message,
            "sent_at": self.clock.iso(),
        }
        return notice_id

    def _active_strikes(self, user: dict) -> list[dict]:
        today = self.clock.today()
        return [s for s in user["strikes"] if s["active"] and s["expires_on"] >= today]

    def _guideline(self, guideline_id: str) -> dict:
        return self.lookup("guidelines", guideline_id, "guideline", list_known=True)

    def _lift_threshold_suspension(self, user: dict) -> bool:
        """End a strike-threshold suspension once the user is back under the threshold."""
        if (
            user["status"] == "suspended"
            and user["status_reason"].startswith("strike threshold")
            and len(self._active_strikes(user)) < self.state["suspension_threshold"]
        ):
            user["status"] = "active"
            user["status_reason"] = ""
            user["suspended_until"] = None
            self._audit(f"suspension of {user['user_id']} lifted: below strike threshold")
            return True
        return False

    def _summary(self, user: dict) -> dict:
        return {
            "user_id": user["user_id"],
            "handle": user["handle"],
            "account_type": user["account_type"],
            "verified": user["verified"],
            "followers": user["followers"],
            "status": user["status"],
            "active_strikes": len(self._active_strikes(user)),
        }

    # -- the queue ----------------------------------------------------------------------------

    @tool
    def list_reports(self, status: str = "open", post_id: str | None = None) -> list[dict]:
        """List user reports in the moderation queue, oldest first.

        Args:
            status: open (the default) or resolved.
            post_id: Only reports about this post.
        """
        rows = [
            r
            for r in self.state["reports"].values()
            if r["status"] == status and (post_id is None or r["post_id"] == post_id)
        ]
        return sorted(rows, key=lambda r: r["created_at"])

    @tool
    def get_report(self, report_id: str) -> dict:
        """Read one report in full: who reported what, why, and its status.

        Args:
            report_id: The report's id, e.g. "R-5501".
        """
        return self.lookup("reports", report_id)

    @tool
    def get_post(self, post_id: str) -> dict:
        """Read a post with its media descriptions, reach, labels, history and author summary.

        Args:
            post_id: The post's id, e.g. "P-9001".
        """
        post = self.lookup("posts", post_id)
        author = self.state["users"].get(post["author_id"])
        open_reports = [
            r["report_id"]
            for r in self.state["reports"].values()
            if r["post_id"] == post_id and r["status"] == "open"
        ]
        return {
            **post,
            "author": self._summary(author) if author else None,
            "open_reports": open_reports,
        }

    @tool
    def get_user(self, user_id: str) -> dict:
        """Read an account: type, status, strike history, security signals and notes.

        Args:
            user_id: The account's id, e.g. "U-311".
        """
        user = self.lookup("users", user_id)
        return {**user, "active_strikes": len(self._active_strikes(user))}

    @tool
    def search_guidelines(self, query: str) -> list[dict]:
        """Search the community guidelines and moderation procedures by keywords.

        Args:
            query: Words to look for, e.g. "graphic injury".
        """
        words = [w for w in query.casefold().split() if len(w) > 2]
        if not words:
            raise ToolError("give at least one search word of three letters or more")
        hits = []
        for g in self.state["guidelines"].values():
            haystack = f"{g['guideline_id']} {g['title']} {g['text']}".casefold()
            score = sum(haystack.count(w) for w in words)
            if score:
                hits.append((score, g))
        hits.sort(key=lambda h: (-h[0], h[1]["guideline_id"]))
        return [
            {"guideline_id": g["guideline_id"], "title": g["title"], "excerpt": g["text"][:160]}
            for _, g in hits
        ]

    @tool
    def get_guideline(self, guideline_id: str) -> dict:
        """Read one community guideline or moderation procedure in full.

        Args:
            guideline_id: The guideline's id, e.g. "G-graphic".
        """
        return self._guideline(guideline_id)

    # -- enforcement --------------------------------------------------------------------------

    @tool
    def remove_post(
        self, post_id: str, guideline_id: str, reason: str, issue_strike: bool = False
    ) -> dict:
        """Take a post down under a guideline; its open reports are resolved as removed.

        A strike counts against the author for 90 days; reaching the strike threshold suspends
        the account for 7 days.

        Args:
            post_id: The post to remove.
            guideline_id: The guideline it is removed under.
            reason: The reason, shown to the author.
            issue_strike: Also give the author a strike.
        """
        post = self.lookup("posts", post_id)
        self._guideline(guideline_id)
        if post["status"] == "removed":
            raise ToolError(f"post {post_id} is already removed")
        if not reason.strip():
            raise ToolError("give the reason the author will see")
        now = self.clock.iso()
        post["status"] = "removed"
        post["removed_under"] = guideline_id
        post["removed_by"] = self.state["moderator_id"]
        post["history"].append(f"{now} removed under {guideline_id}: {reason}")
        resolved = []
        for report in self.state["reports"].values():
            if report["post_id"] == post_id and report["status"] == "open":
                report["status"] = "resolved"
                report["outcome"] = "removed"
                report["resolution_note"] = f"removed under {guideline_id}"
                self._notify(
                    report["reporter_id"],
                    "report_outcome",
                    f"The post you reported ({post_id}) was removed.",
                )
                resolved.append(report["report_id"])
        result: dict = {"post_id": post_id, "status": "removed", "reports_resolved": resolved}
        author = self.state["users"].get(post["author_id"])
        if author:
            self._notify(
                author["user_id"],
                "removal",
                f"Your post {post_id} was removed under {guideline_id}: {reason}",
            )
            if issue_strike:
                strike_id = self.ids.new("STR")
                expires = date.fromisoformat(self.clock.today()) + timedelta(
                    days=self.state["strike_days"]
                )
                author["strikes"].append(
                    {
                        "strike_id": strike_id,
                        "guideline_id": guideline_id,
                        "post_id": post_id,
                        "issued_at": now,
                        "expires_on": expires.isoformat(),
                        "source": "moderator",
                        "active": True,
                    }
                )
                result["strike_id"] = strike_id
                count = len(self._active_strikes(author))
                result["active_strikes"] = count
                if count >= self.state["suspension_threshold"] and author["status"] != "suspended":
                    until = date.fromisoformat(self.clock.today()) + timedelta(days=7)
                    author["status"] = "suspended"
                    author["status_reason"] = f"strike threshold reached ({count} active strikes)"
                    author["suspended_until"] = until.isoformat()
                    result["author_suspended_until"] = until.isoformat()
        self._audit(f"removed {post_id} under {guideline_id}; strike={issue_strike}")
        return result

    @tool
    def label_post(
        self,
        post_id: str,
        label: Literal["graphic_warning", "unverified_claim", "sensitive", "newsworthy"],
        reason: str,
    ) -> dict:
        """Put a label on a visible post. graphic_warning blurs media behind a click-through and
        hides it from under-18 accounts and recommendations; unverified_claim adds a notice.

        Args:
            post_id: The post to label.
            label: graphic_warning, unverified_claim, sensitive or newsworthy.
            reason: Why the label applies, for the record.
        """
        post = self.lookup("posts", post_id)
        if post["status"] != "visible":
            raise ToolError(f"post {post_id} is removed; restore it before labelling")
        if label in post["labels"]:
            raise ToolError(f"post {post_id} already has the {label} label")
        post["labels"].append(label)
        post["history"].append(f"{self.clock.iso()} labelled {label}: {reason}")
        self._audit(f"labelled {post_id} {label}")
        return {"post_id": post_id, "labels": post["labels"]}

    @tool
    def restore_post(self, post_id: str, reason: str, void_strike: bool = False) -> dict:
        """Put a removed post back up; optionally void the strike that came with the removal.

        Args:
            post_id: The removed post.
            reason: Why it is restored, for the record and the author.
            void_strike: Also void the author's strike for this post, if there is one.
        """
        post = self.lookup("posts", post_id)
        if post["status"] != "removed":
            raise ToolError(f"post {post_id} is not removed")
        post["status"] = "visible"
        post["removed_under"] = None
        post["history"].append(f"{self.clock.iso()} restored: {reason}")
        result: dict = {"post_id": post_id, "status": "visible"}
        author = self.state["users"].get(post["author_id"])
        if author:
            if void_strike:
                voided = [
                    s["strike_id"]
                    for s in author["strikes"]
                    if s["post_id"] == post_id and s["active"]
                ]
                for s in author["strikes"]:
                    if s["strike_id"] in voided:
                        s["active"] = False
                result["strikes_voided"] = voided
                result["suspension_lifted"] = self._lift_threshold_suspension(author)
            self._notify(author["user_id"], "restoration", f"Your post {post_id} was restored.")
        self._audit(f"restored {post_id}; void_strike={void_strike}")
        return result

    @tool
    def resolve_report(
        self,
        report_id: str,
        outcome: Literal["no_violation", "labelled", "removed", "duplicate"],
        note: str,
    ) -> dict:
        """Close a report with its outcome; the reporter is told the outcome.

        Args:
            report_id: The report to close.
            outcome: no_violation, labelled, removed or duplicate.
            note: A note for the record; a short version goes to the reporter.
        """
        report = self.lookup("reports", report_id)
        if report["status"] != "open":
            raise ToolError(f"report {report_id} is already resolved ({report['outcome']})")
        post = self.state["posts"].get(report["post_id"], {})
        if outcome == "removed" and post.get("status") != "removed":
            raise ToolError(f"post {report['post_id']} is not removed; use remove_post")
        if outcome == "labelled" and not post.get("labels"):
            raise ToolError(f"post {report['post_id']} has no label; use label_post first")
        report["status"] = "resolved"
        report["outcome"] = outcome
        report["resolution_note"] = note
        self._notify(
            report["reporter_id"],
            "report_outcome",
            f"Your report {report_id} was reviewed: {outcome.replace('_', ' ')}. {note}",
        )
        self._audit(f"resolved {report_id} as {outcome}")
        return {"report_id": report_id, "status": "resolved", "outcome": outcome}

    # -- accounts -----------------------------------------------------------------------------

    @tool
    def suspend_user(
        self,
        user_id: str,
        days: int,
        reason: str,
        kind: Literal["penalty", "security_lock"] = "penalty",
    ) -> dict:
        """Suspend an account: it cannot post, comment or message until the suspension ends.

        A security_lock is for compromised accounts: the owner must pass identity
        re-verification with the account recovery team before it ends.

        Args:
            user_id: The account to suspend.
            days: Length in days, 1 to 30.
            reason: The reason, shown to the account owner.
            kind: penalty (for rule breaking) or security_lock (for a compromised account).
        """
        user = self.lookup("users", user_id)
        if user["status"] == "suspended":
            raise ToolError(f"{user_id} is already suspended until {user['suspended_until']}")
        if not 1 <= days <= 30:
            raise ToolError("a suspension lasts between 1 and 30 days")
        if not reason.strip():
            raise ToolError("give the reason the account owner will see")
        until = date.fromisoformat(self.clock.today()) + timedelta(days=days)
        user["status"] = "suspended"
        user["status_reason"] = f"{kind}: {reason}"
        user["suspended_until"] = until.isoformat()
        self._notify(user_id, "suspension", f"Your account is suspended until {until}: {reason}")
        self._audit(f"suspended {user_id} ({kind}) until {until}")
        return {
            "user_id": user_id,
            "status": "suspended",
            "kind": kind,
            "suspended_until": until.isoformat(),
        }

    @tool
    def lift_restriction(self, user_id: str, reason: str) -> dict:
        """Lift an automated restriction so the account can post again.

        Args:
            user_id: The restricted account.
            reason: Why the restriction is lifted, for the record.
        """
        user = self.lookup("users", user_id)
        if user["status"] != "restricted":
            raise ToolError(f"{user_id} is {user['status']}, not restricted")
        if not reason.strip():
            raise ToolError("record why the restriction is lifted")
        user["status"] = "active"
        user["status_reason"] = ""
        user["notes"].append(f"{self.clock.iso()} restriction lifted: {reason}")
        self._notify(user_id, "restriction_lifted", "Your account can post again.")
        self._audit(f"lifted restriction on {user_id}: {reason}")
        return {"user_id": user_id, "status": "active"}

    # -- appeals ------------------------------------------------------------------------------

    @tool
    def list_appeals(self, status: str = "open") -> list[dict]:
        """List appeals in filing order.

        Args:
            status: open (the default), upheld or overturned.
        """
        rows = [a for a in self.state["appeals"].values() if a["status"] == status]
        return sorted(rows, key=lambda a: a["filed_at"])

    @tool
    def get_appeal(self, appeal_id: str) -> dict:
        """Read an appeal: what action it contests, the user's statement, and its place in line.

        Args:
            appeal_id: The appeal's id, e.g. "AP-3310".
        """
        return self.lookup("appeals", appeal_id)

    @tool
    def decide_appeal(
        self, appeal_id: str, outcome: Literal["uphold", "overturn"], note: str
    ) -> dict:
        """Decide an open appeal. Overturning restores the appealed post, voids its strike and
        ends a strike-threshold suspension if the account falls back under the threshold.

        Args:
            appeal_id: The appeal to decide.
            outcome: uphold (the action stands) or overturn (the action is reversed).
            note: The reasoning, shown to the user.
        """
        appeal = self.lookup("appeals", appeal_id)
        if appeal["status"] != "open":
            raise ToolError(f"appeal {appeal_id} was already decided ({appeal['status']})")
        if not note.strip():
            raise ToolError("an appeal decision needs a note for the user")
        user = self.lookup("users", appeal["user_id"])
        result: dict = {"appeal_id": appeal_id}
        if outcome == "overturn":
            post = self.state["posts"].get(appeal["post_id"] or "")
            if post and post["status"] == "removed":
                post["status"] = "visible"
                post["removed_under"] = None
                post["history"].append(f"{self.clock.iso()} restored on appeal {appeal_id}")
                result["post_restored"] = post["post_id"]
            for s in user["strikes"]:
                if s["strike_id"] == appeal["strike_id"]:
                    s["active"] = False
                    result["strike_voided"] = s["strike_id"]
            result["suspension_lifted"] = self._lift_threshold_suspension(user)
        appeal["status"] = "upheld" if outcome == "uphold" else "overturned"
        appeal["decided_by"] = self.state["moderator_id"]
        appeal["decision_note"] = note
        self._notify(
            user["user_id"],
            "appeal_decision",
            f"Your appeal {appeal_id} was {appeal['status']}: {note}",
        )
        self._audit(f"appeal {appeal_id} {appeal['status']}")
        result.update(
            {
                "status": appeal["status"],
                "active_strikes": len(self._active_strikes(user)),
                "account_status": user["status"],
            }
        )
        return result

    # -- communication ------------------------------------------------------------------------

    @tool
    def message_user(self, user_id: str, message: str) -> dict:
        """Send a direct message from the trust and safety team to an account.

        Args:
            user_id: The account to message.
            message: The message text.
        """
        self.lookup("users", user_id)
        if not message.strip():
            raise ToolError("the message is empty")
        return {"notice_id": self._notify(user_id, "direct_message", message)}

    @tool
    def note_to_policy_team(self, subject: str, detail: str, related_ids: list[str]) -> dict:
        """Send a note to the policy team: a guideline gap, an escalation or a system error.

        Args:
            subject: A short subject line.
            detail: What happened, what is asked of the policy team and why.
            related_ids: Ids of the posts, users, reports or appeals involved.
        """
        if not detail.strip():
            raise ToolError("the note needs detail")
        known = set().union(
            *(self.state[c] for c in ("posts", "users", "reports", "appeals", "guidelines"))
        )
        unknown = [i for i in related_ids if i not in known]
        if unknown:
            raise ToolError(f"unknown ids in related_ids: {unknown}")
        note_id = self.ids.new("PN")
        self.state["policy_notes"][note_id] = {
            "note_id": note_id,
            "subject": subject,
            "detail": detail,
            "related_ids": related_ids,
            "author": self.state["moderator_id"],
            "created_at": self.clock.iso(),
        }
        self._audit(f"note {note_id} to policy team: {subject}")
        return {"note_id": note_id, "status": "sent"}
