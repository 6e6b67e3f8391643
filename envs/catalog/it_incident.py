"""IT incident response: the on-call console of a platform team.

Services with their health and logs, deployments that can be rolled back, incidents with a
timeline, feature flags (with scheduled changes), the public status page, targeted notices to
customer accounts, paging and on-call rotas, internal messages, runbooks, and change-freeze
records with their exception process. Changes to frozen services are refused unless they carry
an approved freeze exception or are made as a break-glass change for an open SEV1/SEV2.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool

ServiceStatus = Literal["operational", "degraded", "partial_outage", "major_outage"]
ComponentStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]


class LogLine(StateModel):
    at: str
    level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = "INFO"
    message: str


class Service(StateModel):
    service_id: str
    name: str
    tier: Literal[1, 2, 3] = 2
    owner_team: str
    status: ServiceStatus = "operational"
    version: str = ""
    error_rate_pct: float = 0.0
    p99_latency_ms: int = 0
    depends_on: list[str] = []
    health_notes: list[str] = []
    logs: list[LogLine] = []


class Deployment(StateModel):
    deploy_id: str
    service_id: str
    version: str
    previous_version: str
    author: str
    deployed_at: str
    status: Literal["live", "rolled_back", "superseded"] = "live"
    summary: str = ""
    includes_migration: bool = False
    freeze_exception_id: str | None = None
    rollback: dict[str, str] | None = None


class TimelineEntry(StateModel):
    at: str
    author: str
    text: str


class Incident(StateModel):
    incident_id: str
    title: str
    severity: Severity = "SEV3"
    status: IncidentStatus = "investigating"
    service_ids: list[str] = []
    commander: str = ""
    opened_at: str
    customer_impact: str = ""
    affected_accounts: list[str] = []
    timeline: list[TimelineEntry] = []
    root_cause: str | None = None
    resolved_at: str | None = None


class FlagChange(StateModel):
    at: str
    by: str
    enabled: bool
    rollout_percent: int
    reason: str = ""


class ScheduledFlagChange(StateModel):
    schedule_id: str
    at: str
    enabled: bool
    rollout_percent: int
    reason: str = ""
    created_by: str = ""
    status: Literal["scheduled", "applied", "cancelled"] = "scheduled"


class FeatureFlag(StateModel):
    flag_key: str
    service_id: str
    description: str = ""
    owner: str = ""
    enabled: bool = False
    rollout_percent: int = 0
    history: list[FlagChange] = []
    scheduled: list[ScheduledFlagChange] = []
    editors: list[str] = []  # people (besides the operator) allowed to change the flag


class StatusComponent(StateModel):
    component_id: str
    name: str
    status: ComponentStatus = "operational"


class StatusUpdate(StateModel):
    at: str
    status: IncidentStatus
    message: str


class StatusPost(StateModel):
    post_id: str
    title: str
    component_ids: list[str] = []
    status: IncidentStatus = "investigating"
    incident_id: str | None = None
    created_at: str
    updates: list[StatusUpdate] = []


class StatusPage(StateModel):
    url: str = ""
    components: dict[str, StatusComponent] = {}
    posts: dict[str, StatusPost] = {}


class Account(StateModel):
    account_id: str
    name: str
    plan: str = "standard"
    region: str = ""
    admin_contact: str = ""
    notices: list[str] = []


class Person(StateModel):
    person_id: str
    name: str
    team: str
    role: str
    on_call: Literal["primary", "secondary", "none"] = "none"
    note: str = ""


class Page(StateModel):
    page_id: str
    person_id: str
    urgency: Literal["high", "low"] = "high"
    message: str
    incident_id: str | None = None
    sent_at: str
    status: Literal["triggered", "acknowledged"] = "triggered"


class Message(StateModel):
    message_id: str
    to: str
    sender: str
    text: str
    sent_at: str


class Notice(StateModel):
    notice_id: str
    account_ids: list[str]
    subject: str
    message: str
    incident_id: str | None = None
    sent_at: str


class FreezeException(StateModel):
    exception_id: str
    freeze_id: str
    service_id: str
    change: str
    justification: str
    incident_id: str | None = None
    requested_by: str = ""
    requested_at: str
    status: Literal["pending", "approved", "denied"] = "pending"
    decided_by: str | None = None
    used_for: str | None = None


class ChangeFreeze(StateModel):
    freeze_id: str
    name: str
    starts_at: str
    ends_at: str
    services: list[str] = ["*"]
    covers_flag_changes: bool = False
    approver: str = ""
    rules: str = ""
    exceptions: dict[str, FreezeException] = {}


class AgendaItem(StateModel):
    item_id: str
    title: str
    presenter_id: str | None = None
    minutes: int = 10


class Meeting(StateModel):
    """A recurring team or company meeting whose running order the operator can edit."""

    meeting_id: str
    title: str
    at: str
    organiser: str = ""
    description: str = ""
    agenda: list[AgendaItem] = []


class IncidentConsoleState(StateModel):
    organisation: str = "Example Corp"
    operator: str = "on-call engineer"
    services: dict[str, Service] = {}
    deployments: dict[str, Deployment] = {}
    incidents: dict[str, Incident] = {}
    feature_flags: dict[str, FeatureFlag] = {}
    status_page: StatusPage = StatusPage()
    accounts: dict[str, Account] = {}
    people: dict[str, Person] = {}
    pages: dict[str, Page] = {}
    messages: list[Message] = []
    notices: list[Notice] = []
    change_freezes: dict[str, ChangeFreeze] = {}
    runbooks: dict[str, str] = {}
    meetings: dict[str, Meeting] = {}
    audit_log: list[str] = []


def _parse_time(value: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ToolError(f"{what} {value!r} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        raise ToolError(f"{what} {value!r} needs a timezone, e.g. 2026-03-02T14:00:00+00:00")
    return parsed


class ItIncident(ToolEnv):
    name = "it_incident"
    description = (
        "The on-call console of a platform team: services, incidents, deployments and "
        "rollbacks, feature flags, the public status page, paging and change freezes."
    )
    State = IncidentConsoleState

    # -- helpers ------------------------------------------------------------------------------

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {self.state['operator']}: {line}")

    def _timeline(self, incident_id: str | None, text: str) -> None:
        if incident_id and incident_id in self.state["incidents"]:
            self.state["incidents"][incident_id]["timeline"].append(
                {"at": self.clock.iso(), "author": self.state["operator"], "text": text}
            )

    def _incident(self, incident_id: str) -> dict:
        return self.lookup("incidents", incident_id)

    def _active_freeze(self, service_id: str, flags: bool = False) -> dict | None:
        now = self.clock.now()
        for freeze in self.state["change_freezes"].values():
            in_scope = "*" in freeze["services"] or service_id in freeze["services"]
            if flags and not freeze["covers_flag_changes"]:
                continue
            start = _parse_time(freeze["starts_at"], "freeze start")
            end = _parse_time(freeze["ends_at"], "freeze end")
            if in_scope and start <= now <= end:
                return freeze
        return None

    def _freeze_gate(
        self,
        service_id: str,
        action: str,
        incident_id: str | None,
        break_glass: bool,
        freeze_exception_id: str | None,
        flags: bool = False,
    ) -> str:
        """Refuse a change to a frozen service unless it is covered; return how it was allowed."""
        freeze = self._active_freeze(service_id, flags=flags)
        if freeze is None:
            return "no freeze"
        if freeze_exception_id:
            exc = freeze["exceptions"].get(freeze_exception_id)
            if exc is None:
                raise ToolError(
                    f"no freeze exception {freeze_exception_id!r} on {freeze['freeze_id']}"
                )
            if exc["service_id"] != service_id:
                raise ToolError(
                    f"{freeze_exception_id} covers {exc['service_id']}, not {service_id}"
                )
            if exc["status"] != "approved":
                approver = self.state["people"].get(freeze["approver"], {})
                raise ToolError(
                    f"freeze exception {freeze_exception_id} is {exc['status']}; it must be "
                    f"approved by {approver.get('name', freeze['approver'])} before the change "
                    "can go out"
                )
            if exc["used_for"]:
                raise ToolError(
                    f"freeze exception {freeze_exception_id} covered {exc['used_for']} and has "
                    "been used; each change needs its own exception"
                )
            exc["used_for"] = action
            return f"freeze exception {freeze_exception_id}"
        if break_glass:
            if not incident_id:
                raise ToolError("a break-glass change must name the open SEV1/SEV2 incident")
            incident = self._incident(incident_id)
            if incident["status"] == "resolved" or incident["severity"] not in ("SEV1", "SEV2"):
                raise ToolError(
                    f"break-glass is only available for an open SEV1 or SEV2; {incident_id} is "
                    f"{incident['severity']} ({incident['status']})"
                )
            if service_id not in incident["service_ids"]:
                raise ToolError(f"{incident_id} does not involve {service_id}")
            self._audit(f"BREAK-GLASS {action} on {service_id} during {freeze['freeze_id']}")
            return f"break-glass under {incident_id}"
        raise ToolError(
            f"{service_id} is inside change freeze {freeze['freeze_id']} ({freeze['name']}) "
            f"until {freeze['ends_at']}: {action} needs an approved freeze exception "
            "(request_freeze_exception), or break_glass with an open SEV1/SEV2 incident id"
        )

    # -- services, logs and deployments -------------------------------------------------------

    @tool
    def list_services(self, status: ServiceStatus | None = None) -> list[dict]:
        """List services with their tier, owner, status and headline metrics.

        Args:
            status: Only services in this status: operational, degraded, partial_outage,
                major_outage.
        """
        keys = ("service_id", "name", "tier", "owner_team", "status", "version", "error_rate_pct")
        return [
            {k: s[k] for k in keys}
            for s in self.state["services"].values()
            if status is None or s["status"] == status
        ]

    @tool
    def get_service(self, service_id: str) -> dict:
        """Read one service: metrics, dependencies, health notes and its recent deployments.

        Args:
            service_id: The service's id, e.g. "payments-api".
        """
        service = self.lookup("services", service_id)
        view = {k: v for k, v in service.items() if k != "logs"}
        view["log_lines"] = len(service["logs"])
        view["deployments"] = [
            {k: d[k] for k in ("deploy_id", "version", "deployed_at", "status", "author")}
            for d in self.state["deployments"].values()
            if d["service_id"] == service_id
        ]
        return view

    @tool
    def search_logs(
        self, service_id: str, query: str = "", level: str | None = None, limit: int = 20
    ) -> dict:
        """Search a service's recent log lines (newest last).

        Args:
            service_id: The service whose logs to search.
            query: Case-insensitive text the line must contain; empty matches every line.
            level: Only lines at this level: DEBUG, INFO, WARN or ERROR.
            limit: The most lines to return (1-100); the newest are kept.
        """
        service = self.lookup("services", service_id)
        if not 1 <= limit <= 100:
            raise ToolError("limit must be between 1 and 100")
        lines = [
            line
            for line in service["logs"]
            if query.casefold() in line["message"].casefold()
            and (level is None or line["level"] == level.upper())
        ]
        return {"service_id": service_id, "matched": len(lines), "lines": lines[-limit:]}

    @tool
    def list_deployments(self, service_id: str | None = None) -> list[dict]:
        """List deployments, newest first, optionally for one service.

        Args:
            service_id: Only deployments of this service.
        """
        found = [
            d
            for d in self.state["deployments"].values()
            if service_id is None or d["service_id"] == service_id
        ]
        return sorted(found, key=lambda d: d["deployed_at"], reverse=True)

    @tool
    def rollback_deployment(
        self,
        deploy_id: str,
        reason: str,
        incident_id: str | None = None,
        break_glass: bool = False,
        freeze_exception_id: str | None = None,
    ) -> dict:
        """Roll a live deployment back to the version it replaced.

        During a change freeze the rollback needs an approved freeze exception, or it can be
        made as a break-glass change for an open SEV1/SEV2 (recorded for post-freeze review).

        Args:
            deploy_id: The live deployment to undo.
            reason: Why it is being rolled back (goes to the audit trail).
            incident_id: The incident this rollback mitigates; its timeline gets an entry.
            break_glass: Apply it now under the freeze's emergency clause (needs incident_id).
            freeze_exception_id: An approved freeze exception that covers this change.
        """
        deployment = self.lookup("deployments", deploy_id)
        if deployment["status"] != "live":
            raise ToolError(
                f"{deploy_id} is {deployment['status']}, only a live deployment can be rolled back"
            )
        if not reason.strip():
            raise ToolError("give a reason for the rollback")
        if incident_id:
            self._incident(incident_id)
        service_id = deployment["service_id"]
        allowed_by = self._freeze_gate(
            service_id, f"rollback of {deploy_id}", incident_id, break_glass, freeze_exception_id
        )
        service = self.state["services"][service_id]
        service["version"] = deployment["previous_version"]
        deployment["status"] = "rolled_back"
        deployment["rollback"] = {
            "at": self.clock.iso(),
            "by": self.state["operator"],
            "reason": reason,
            "allowed_by": allowed_by,
        }
        warning = None
        if deployment["includes_migration"]:
            warning = (
                "this release ran a schema migration; it is not reverted by the rollback, "
                "check that the previous version tolerates the new schema"
            )
        self._audit(f"rolled back {deploy_id} ({service_id} -> {deployment['previous_version']})")
        self._timeline(
            incident_id,
            f"Rolled back {deploy_id}: {service_id} {deployment['version']} -> "
            f"{deployment['previous_version']} ({allowed_by}). {reason}",
        )
        result = {
            "deploy_id": deploy_id,
            "service_id": service_id,
            "now_running": deployment["previous_version"],
            "allowed_by": allowed_by,
            "note": "metrics take a few minutes to reflect the change",
        }
        if warning:
            result["warning"] = warning
        return result

    # -- incidents ----------------------------------------------------------------------------

    @tool
    def list_incidents(self, status: IncidentStatus | None = None) -> list[dict]:
        """List incidents with their severity, status and services.

        Args:
            status: Only incidents in this status: investigating, identified, monitoring,
                resolved.
        """
        keys = ("incident_id", "title", "severity", "status", "service_ids", "opened_at")
        return [
            {k: i[k] for k in keys}
            for i in self.state["incidents"].values()
            if status is None or i["status"] == status
        ]

    @tool
    def get_incident(self, incident_id: str) -> dict:
        """Read an incident in full: impact, affected accounts and the timeline.

        Args:
            incident_id: The incident's id, e.g. "INC-5012".
        """
        return self._incident(incident_id)

    @tool
    def update_incident(
        self,
        incident_id: str,
        status: Literal["investigating", "identified", "monitoring"] | None = None,
        severity: Severity | None = None,
        customer_impact: str | None = None,
    ) -> dict:
        """Change an open incident's status, severity or impact statement (use resolve_incident
        to close it). Each change is written to the timeline.

        Args:
            incident_id: The incident to update.
            status: New status: investigating, identified or monitoring.
            severity: New severity: SEV1 (worst) to SEV4.
            customer_impact: A replacement statement of the customer impact.
        """
        incident = self._incident(incident_id)
        if incident["status"] == "resolved":
            raise ToolError(f"{incident_id} is resolved; it cannot be updated")
        if status is None and severity is None and customer_impact is None:
            raise ToolError("nothing to update: give a status, severity or customer_impact")
        changes = []
        if status is not None and status != incident["status"]:
            changes.append(f"status {incident['status']} -> {status}")
            incident["status"] = status
        if severity is not None and severity != incident["severity"]:
            changes.append(f"severity {incident['severity']} -> {severity}")
            incident["severity"] = severity
        if customer_impact is not None:
            changes.append("customer impact restated")
            incident["customer_impact"] = customer_impact
        if changes:
            self._timeline(incident_id, "; ".join(changes).capitalize())
        return {
            "incident_id": incident_id,
            "status": incident["status"],
            "severity": incident["severity"],
            "changes": changes,
        }

    @tool
    def add_timeline_entry(self, incident_id: str, text: str) -> dict:
        """Write an entry on an incident's timeline (findings, hypotheses, decisions).

        Args:
            incident_id: The incident.
            text: What to record.
        """
        incident = self._incident(incident_id)
        if not text.strip():
            raise ToolError("the timeline entry is empty")
        self._timeline(incident_id, text)
        return {"incident_id": incident_id, "entries": len(incident["timeline"])}

    @tool
    def resolve_incident(self, incident_id: str, root_cause: str, summary: str) -> dict:
        """Resolve an incident once impact has ended.

        Args:
            incident_id: The incident to resolve.
            root_cause: The cause as currently understood.
            summary: What was done and the state of the service now.
        """
        incident = self._incident(incident_id)
        if incident["status"] == "resolved":
            raise ToolError(f"{incident_id} is already resolved")
        if incident["status"] not in ("monitoring", "identified"):
            raise ToolError(
                f"{incident_id} is still {incident['status']}; mitigate and move it to "
                "monitoring before resolving"
            )
        incident["status"] = "resolved"
        incident["root_cause"] = root_cause
        incident["resolved_at"] = self.clock.iso()
        self._timeline(incident_id, f"Resolved. {summary}")
        self._audit(f"resolved {incident_id}")
        return {"incident_id": incident_id, "status": "resolved"}

    # -- feature flags ------------------------------------------------------------------------

    @tool
    def list_feature_flags(self, service_id: str | None = None) -> list[dict]:
        """List feature flags with their state, rollout, history and scheduled changes.

        Args:
            service_id: Only flags of this service.
        """
        return [
            f
            for f in self.state["feature_flags"].values()
            if service_id is None or f["service_id"] == service_id
        ]

    @tool
    def set_feature_flag(
        self, flag_key: str, enabled: bool, rollout_percent: int, reason: str
    ) -> dict:
        """Change a feature flag now.

        Args:
            flag_key: The flag, e.g. "instant-payouts".
            enabled: Whether the flag is on.
            rollout_percent: Share of traffic that sees it when on (0-100).
            reason: Why (kept in the flag's history).
        """
        flag = self.lookup("feature_flags", flag_key, "feature flag")
        if not 0 <= rollout_percent <= 100:
            raise ToolError("rollout_percent must be between 0 and 100")
        if enabled and rollout_percent == 0:
            raise ToolError("an enabled flag needs a rollout_percent above 0")
        if not reason.strip():
            raise ToolError("give a reason for the flag change")
        freeze = self._active_freeze(flag["service_id"], flags=True)
        if freeze is not None:
            raise ToolError(
                f"flag changes on {flag['service_id']} are frozen by {freeze['freeze_id']}; "
                "request a freeze exception"
            )
        flag["enabled"] = enabled
        flag["rollout_percent"] = rollout_percent if enabled else 0
        flag["history"].append(
            {
                "at": self.clock.iso(),
                "by": self.state["operator"],
                "enabled": enabled,
                "rollout_percent": flag["rollout_percent"],
                "reason": reason,
            }
        )
        self._audit(f"flag {flag_key} -> enabled={enabled} at {flag['rollout_percent']}%")
        return {
            "flag_key": flag_key,
            "enabled": flag["enabled"],
            "rollout_percent": flag["rollout_percent"],
        }

    @tool
    def schedule_flag_change(
        self, flag_key: str, at: str, enabled: bool, rollout_percent: int, reason: str
    ) -> dict:
        """Schedule a feature-flag change for a later time (the flag service applies it then).

        Args:
            flag_key: The flag.
            at: When to apply it, ISO 8601 with timezone, e.g. "2026-03-10T11:00:00+00:00".
            enabled: Whether the flag will be on.
            rollout_percent: Share of traffic that will see it (0-100).
            reason: Why (kept with the schedule).
        """
        flag = self.lookup("feature_flags", flag_key, "feature flag")
        when = _parse_time(at, "at")
        if when <= self.clock.now():
            raise ToolError(f"{at} is not in the future; use set_feature_flag for a change now")
        if not 0 <= rollout_percent <= 100:
            raise ToolError("rollout_percent must be between 0 and 100")
        if enabled and rollout_percent == 0:
            raise ToolError("an enabled flag needs a rollout_percent above 0")
        schedule_id = self.ids.new("SCH")
        flag["scheduled"].append(
            {
                "schedule_id": schedule_id,
                "at": when.isoformat(),
                "enabled": enabled,
                "rollout_percent": rollout_percent if enabled else 0,
                "reason": reason,
                "created_by": self.state["operator"],
                "status": "scheduled",
            }
        )
        self._audit(
            f"scheduled {flag_key} -> enabled={enabled} {rollout_percent}% at {when.isoformat()}"
        )
        return {"schedule_id": schedule_id, "flag_key": flag_key, "at": when.isoformat()}

    @tool
    def grant_flag_access(self, flag_key: str, person_id: str, reason: str) -> dict:
        """Let a colleague change a feature flag themselves from now on.

        Args:
            flag_key: The flag.
            person_id: Who may change it.
            reason: Why, for the flag's record.
        """
        flag = self.lookup("feature_flags", flag_key, "feature flag")
        person = self.lookup("people", person_id, "person")
        if person_id in flag["editors"]:
            raise ToolError(f"{person['name']} can already change {flag_key}")
        if not reason.strip():
            raise ToolError("give a reason for the access")
        flag["editors"].append(person_id)
        self._audit(f"granted {person_id} access to flag {flag_key}: {reason}")
        return {"flag_key": flag_key, "editors": flag["editors"]}

    # -- customer communication ---------------------------------------------------------------

    @tool
    def get_status_page(self) -> dict:
        """Read the public status page: components and their status, and all posts."""
        return self.state["status_page"]

    @tool
    def update_status_page(
        self,
        component_id: str,
        component_status: ComponentStatus,
        title: str,
        message: str,
        post_status: IncidentStatus = "investigating",
        incident_id: str | None = None,
    ) -> dict:
        """Publish to the public status page. Adds an update to the open post for the incident,
        or opens a new post; the component's displayed status is set as given.

        Args:
            component_id: The status-page component, e.g. "report-exports".
            component_status: What the component shows: operational, degraded_performance,
                partial_outage, major_outage, under_maintenance.
            title: The post's title (used when a new post is opened).
            message: The public text of this update.
            post_status: The post's stage: investigating, identified, monitoring, resolved.
            incident_id: The internal incident the post belongs to.
        """
        page = self.state["status_page"]
        component = self._component(component_id)
        if not message.strip():
            raise ToolError("the public message is empty")
        if incident_id:
            self._incident(incident_id)
        post = next(
            (
                p
                for p in page["posts"].values()
                if incident_id and p["incident_id"] == incident_id and p["status"] != "resolved"
            ),
            None,
        )
        if post is None:
            post_id = self.ids.new("SP")
            post = {
                "post_id": post_id,
                "title": title,
                "component_ids": [component_id],
                "status": post_status,
                "incident_id": incident_id,
                "created_at": self.clock.iso(),
                "updates": [],
            }
            page["posts"][post_id] = post
        elif component_id not in post["component_ids"]:
            post["component_ids"].append(component_id)
        post["status"] = post_status
        post["updates"].append({"at": self.clock.iso(), "status": post_status, "message": message})
        component["status"] = component_status
        self._audit(f"status page {post['post_id']}: {component_id} {component_status}")
        self._timeline(incident_id, f"Public status page updated ({post['post_id']}): {message}")
        return {
            "post_id": post["post_id"],
            "component_id": component_id,
            "component_status": component_status,
            "public_url": f"{page['url']}/incidents/{post['post_id']}" if page["url"] else None,
        }

    def _component(self, component_id: str) -> dict:
        components = self.state["status_page"]["components"]
        if component_id not in components:
            known = ", ".join(sorted(components)) or "none"
            raise ToolError(f"no status-page component {component_id!r}; components: {known}")
        return components[component_id]

    @tool
    def list_accounts(self, region: str | None = None) -> list[dict]:
        """List customer accounts with plan, region and admin contact.

        Args:
            region: Only accounts in this region, e.g. "eu-2".
        """
        return [
            a for a in self.state["accounts"].values() if region is None or a["region"] == region
        ]

    @tool
    def notify_accounts(
        self, account_ids: list[str], subject: str, message: str, incident_id: str | None = None
    ) -> dict:
        """Send a private incident notice to the admin contacts of specific customer accounts
        (it does not appear on the public status page).

        Args:
            account_ids: The accounts to notify.
            subject: Subject line of the notice.
            message: The notice text.
            incident_id: The incident it concerns.
        """
        if not account_ids:
            raise ToolError("name at least one account")
        for account_id in account_ids:
            self.lookup("accounts", account_id, "account")
        if not message.strip():
            raise ToolError("the notice is empty")
        if incident_id:
            self._incident(incident_id)
        notice_id = self.ids.new("NTC")
        self.state["notices"].append(
            {
                "notice_id": notice_id,
                "account_ids": list(account_ids),
                "subject": subject,
                "message": message,
                "incident_id": incident_id,
                "sent_at": self.clock.iso(),
            }
        )
        for account_id in account_ids:
            self.state["accounts"][account_id]["notices"].append(notice_id)
        self._audit(f"notice {notice_id} to {len(account_ids)} accounts")
        self._timeline(
            incident_id, f"Private notice {notice_id} sent to {len(account_ids)} accounts"
        )
        return {"notice_id": notice_id, "recipients": len(account_ids)}

    # -- people -------------------------------------------------------------------------------

    @tool
    def list_oncall(self, team: str | None = None) -> list[dict]:
        """List people with their team, role and on-call position.

        Args:
            team: Only people of this team, e.g. "payments".
        """
        return [p for p in self.state["people"].values() if team is None or p["team"] == team]

    @tool
    def page(
        self,
        person_id: str,
        message: str,
        urgency: Literal["high", "low"] = "high",
        incident_id: str | None = None,
    ) -> dict:
        """Page a person (phone and push). High urgency wakes them.

        Args:
            person_id: Who to page.
            message: What they are needed for.
            urgency: high or low.
            incident_id: The incident they are paged for.
        """
        person = self.lookup("people", person_id, "person")
        if incident_id:
            self._incident(incident_id)
        page_id = self.ids.new("PG")
        self.state["pages"][page_id] = {
            "page_id": page_id,
            "person_id": person_id,
            "urgency": urgency,
            "message": message,
            "incident_id": incident_id,
            "sent_at": self.clock.iso(),
            "status": "triggered",
        }
        self._audit(f"paged {person_id} ({urgency})")
        self._timeline(incident_id, f"Paged {person['name']} ({urgency}): {message}")
        return {"page_id": page_id, "person": person["name"], "status": "triggered"}

    @tool
    def send_message(self, to: str, text: str) -> dict:
        """Send an internal chat message to a colleague.

        Args:
            to: The person's id.
            text: The message.
        """
        person = self.lookup("people", to, "person")
        if not text.strip():
            raise ToolError("the message is empty")
        message_id = self.ids.new("MSG")
        self.state["messages"].append(
            {
                "message_id": message_id,
                "to": to,
                "sender": self.state["operator"],
                "text": text,
                "sent_at": self.clock.iso(),
            }
        )
        return {"message_id": message_id, "to": person["name"]}

    # -- meetings -----------------------------------------------------------------------------

    def _meeting(self, meeting_id: str) -> dict:
        return self.lookup("meetings", meeting_id, "meeting", list_known=True)

    def _item(self, meeting: dict, item_id: str) -> dict:
        for item in meeting["agenda"]:
            if item["item_id"] == item_id:
                return item
        known = ", ".join(i["item_id"] for i in meeting["agenda"]) or "none"
        raise ToolError(f"{meeting['meeting_id']} has no agenda item {item_id!r}; items: {known}")

    @tool
    def get_meeting(self, meeting_id: str) -> dict:
        """Read a meeting: when it is, what it is for and its running order.

        Args:
            meeting_id: The meeting, e.g. "MTG-ALLHANDS".
        """
        return self._meeting(meeting_id)

    @tool
    def add_agenda_item(
        self, meeting_id: str, title: str, presenter_id: str, minutes: int = 10
    ) -> dict:
        """Add an item to a meeting's running order, with who presents it.

        Args:
            meeting_id: The meeting.
            title: What the item is.
            presenter_id: The person who presents it.
            minutes: How long it takes (1-30).
        """
        meeting = self._meeting(meeting_id)
        self.lookup("people", presenter_id, "person")
        if not 1 <= minutes <= 30:
            raise ToolError("an agenda item takes between 1 and 30 minutes")
        if any(i["title"].casefold() == title.strip().casefold() for i in meeting["agenda"]):
            raise ToolError(f"{meeting_id} already has an item {title!r}")
        item_id = f"{meeting_id}-{len(meeting['agenda']) + 1}"
        meeting["agenda"].append(
            {
                "item_id": item_id,
                "title": title.strip(),
                "presenter_id": presenter_id,
                "minutes": minutes,
            }
        )
        self._audit(f"added {item_id} to {meeting_id} ({presenter_id})")
        return {"item_id": item_id, "meeting_id": meeting_id, "presenter_id": presenter_id}

    @tool
    def set_presenter(self, meeting_id: str, item_id: str, presenter_id: str) -> dict:
        """Set who presents an item of a meeting's running order.

        Args:
            meeting_id: The meeting.
            item_id: The agenda item.
            presenter_id: The person who will present it.
        """
        item = self._item(self._meeting(meeting_id), item_id)
        person = self.lookup("people", presenter_id, "person")
        item["presenter_id"] = presenter_id
        self._audit(f"{item_id} presenter -> {presenter_id}")
        return {"item_id": item_id, "presenter": person["name"]}

    @tool
    def remove_agenda_item(self, meeting_id: str, item_id: str, reason: str) -> dict:
        """Take an item off a meeting's running order.

        Args:
            meeting_id: The meeting.
            item_id: The agenda item.
            reason: Why, for the organiser.
        """
        meeting = self._meeting(meeting_id)
        item = self._item(meeting, item_id)
        if not reason.strip():
            raise ToolError("give the organiser a reason")
        meeting["agenda"].remove(item)
        self._audit(f"removed {item_id} from {meeting_id}: {reason}")
        return {"meeting_id": meeting_id, "removed": item_id}

    # -- change control -----------------------------------------------------------------------

    @tool
    def list_change_freezes(self) -> list[dict]:
        """List change freezes with their window, scope and whether each is active now."""
        now = self.clock.now()
        out = []
        for f in self.state["change_freezes"].values():
            start = _parse_time(f["starts_at"], "freeze start")
            end = _parse_time(f["ends_at"], "freeze end")
            keys = ("freeze_id", "name", "starts_at", "ends_at", "services")
            out.append({**{k: f[k] for k in keys}, "active": start <= now <= end})
        return out

    @tool
    def get_change_freeze(self, freeze_id: str) -> dict:
        """Read a change freeze: its rules, approver and exceptions.

        Args:
            freeze_id: The freeze's id.
        """
        return self.lookup("change_freezes", freeze_id, "change freeze")

    @tool
    def request_freeze_exception(
        self,
        freeze_id: str,
        service_id: str,
        change: str,
        justification: str,
        incident_id: str | None = None,
    ) -> dict:
        """Ask the freeze's approver for an exception so a change can go out during it.

        Args:
            freeze_id: The freeze.
            service_id: The service the change touches.
            change: The change, e.g. "roll back DEP-8841 to v3.13.2".
            justification: Why it cannot wait, with the evidence.
            incident_id: The incident, if the change mitigates one.
        """
        freeze = self.lookup("change_freezes", freeze_id, "change freeze")
        self.lookup("services", service_id, "service")
        if not ("*" in freeze["services"] or service_id in freeze["services"]):
            raise ToolError(f"{service_id} is not in the scope of {freeze_id}")
        if not justification.strip():
            raise ToolError("an exception request needs a justification")
        if incident_id:
            self._incident(incident_id)
        exception_id = self.ids.new("FEX")
        freeze["exceptions"][exception_id] = {
            "exception_id": exception_id,
            "freeze_id": freeze_id,
            "service_id": service_id,
            "change": change,
            "justification": justification,
            "incident_id": incident_id,
            "requested_by": self.state["operator"],
            "requested_at": self.clock.iso(),
            "status": "pending",
            "decided_by": None,
        }
        self._audit(f"requested freeze exception {exception_id} on {freeze_id} for {service_id}")
        self._timeline(incident_id, f"Freeze exception {exception_id} requested: {change}")
        approver = self.state["people"].get(freeze["approver"], {}).get("name", freeze["approver"])
        return {"exception_id": exception_id, "status": "pending", "approver": approver}

    @tool
    def read_runbook(self, runbook_id: str) -> dict:
        """Read a runbook by its id.

        Args:
            runbook_id: The runbook's id, e.g. "rollback".
        """
        return {
            "runbook_id": runbook_id,
            "text": self.lookup("runbooks", runbook_id, "runbook", list_known=True),
        }
