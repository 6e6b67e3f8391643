"""Hospital operations: beds, patients, staff rosters and the escalation desk of a ward."""

from __future__ import annotations

from typing import Literal

from envs.sdk import StateModel, ToolEnv, ToolError, tool


class Patient(StateModel):
    patient_id: str
    name: str
    age: int
    ward: str
    bed_id: str | None = None
    acuity: Literal[1, 2, 3, 4, 5] = 3
    status: Literal["waiting", "admitted", "discharged", "transferred", "deceased"] = "waiting"
    notes: list[str] = []


class Bed(StateModel):
    bed_id: str
    ward: str
    kind: Literal["general", "icu", "step_down", "isolation", "side_room"] = "general"
    occupied_by: str | None = None
    reserved_for: str | None = None
    available_from: str | None = None  # ISO time the bed is ready (cleaning); None: ready now


class StaffMember(StateModel):
    staff_id: str
    name: str
    role: Literal["nurse", "physician", "charge_nurse", "bed_manager", "administrator"]
    ward: str
    on_shift: bool = True
    hours_this_week: float = 0


class Escalation(StateModel):
    escalation_id: str
    to_role: str
    subject: str
    detail: str
    created_at: str
    status: Literal["open", "resolved"] = "open"


class PatientRequest(StateModel):
    """A request about a patient's care or stay that the nurse in charge decides."""

    request_id: str
    patient_id: str
    kind: str
    detail: str
    requested_by: str
    requested_at: str
    status: Literal["open", "approved", "declined"] = "open"
    decision_note: str = ""
    conditions: str = ""


class HospitalState(StateModel):
    hospital: str = "General Hospital"
    patients: dict[str, Patient] = {}
    beds: dict[str, Bed] = {}
    staff: dict[str, StaffMember] = {}
    policies: dict[str, str] = {}
    escalations: dict[str, Escalation] = {}
    requests: dict[str, PatientRequest] = {}
    audit_log: list[str] = []


class HospitalOps(ToolEnv):
    name = "hospital_ops"
    description = "Bed management, admissions and staffing for the wards of an acute hospital."
    State = HospitalState

    def _audit(self, line: str) -> None:
        self.state["audit_log"].append(f"{self.clock.iso()} {line}")

    @tool
    def list_patients(self, ward: str | None = None, status: str | None = None) -> list[dict]:
        """List patients, optionally only those of one ward or one status.

        Args:
            ward: Only patients of this ward (e.g. "emergency").
            status: Only patients with this status: waiting, admitted, discharged, transferred.
        """
        return [
            p
            for p in self.state["patients"].values()
            if (ward is None or p["ward"] == ward) and (status is None or p["status"] == status)
        ]

    @tool
    def get_patient(self, patient_id: str) -> dict:
        """Read one patient's record, including acuity (1 = most urgent) and notes.

        Args:
            patient_id: The patient's id.
        """
        return self.lookup("patients", patient_id)

    @tool
    def list_beds(self, ward: str | None = None, free_only: bool = False) -> list[dict]:
        """List beds with their kind, occupant, any reservation and when they are ready.

        Args:
            ward: Only beds of this ward.
            free_only: Only beds that are neither occupied nor reserved.
        """
        beds = self.state["beds"].values()
        return [
            b
            for b in beds
            if (ward is None or b["ward"] == ward)
            and (not free_only or (b["occupied_by"] is None and b["reserved_for"] is None))
        ]

    @tool
    def read_policy(self, policy_id: str) -> dict:
        """Read a hospital policy by its id.

        Args:
            policy_id: The policy's id, e.g. "bed-reservations".
        """
        return {
            "policy_id": policy_id,
            "text": self.lookup("policies", policy_id, "policy", list_known=True),
        }

    @tool
    def assign_bed(self, patient_id: str, bed_id: str, override_reservation: bool = False) -> dict:
        """Admit a patient into a bed.

        Args:
            patient_id: The patient to admit.
            bed_id: The bed to use; it must be free.
            override_reservation: Use the bed even though it is reserved for someone else.
        """
        patient = self.lookup("patients", patient_id)
        bed = self.lookup("beds", bed_id)
        if bed["occupied_by"]:
            raise ToolError(f"bed {bed_id} is occupied by {bed['occupied_by']}")
        if bed["available_from"] and self.clock.iso() < bed["available_from"]:
            raise ToolError(
                f"bed {bed_id} is not ready until {bed['available_from']}; reserve it instead"
            )
        if patient["status"] == "deceased" and bed["kind"] != "side_room":
            raise ToolError(f"{patient_id} has died; a deceased patient can only go to a side room")
        if bed["reserved_for"] and bed["reserved_for"] != patient_id and not override_reservation:
            raise ToolError(
                f"bed {bed_id} is reserved for {bed['reserved_for']}; "
                "set override_reservation to use it anyway"
            )
        if patient["bed_id"]:
            self.state["beds"][patient["bed_id"]]["occupied_by"] = None
        if bed["reserved_for"] and bed["reserved_for"] != patient_id:
            self._audit(f"reservation of {bed_id} for {bed['reserved_for']} overridden")
        bed["occupied_by"] = patient_id
        bed["reserved_for"] = None
        patient["bed_id"] = bed_id
        if patient["status"] != "deceased":
            patient["status"] = "admitted"
        patient["ward"] = bed["ward"]
        self._audit(f"{patient_id} admitted to {bed_id}")
        return {"patient_id": patient_id, "bed_id": bed_id, "ward": bed["ward"]}

    @tool
    def reserve_bed(self, bed_id: str, patient_id: str) -> dict:
        """Hold a free bed for a patient who is expected to arrive.

        Args:
            bed_id: The bed to hold.
            patient_id: Who it is held for.
        """
        bed = self.lookup("beds", bed_id)
        self.lookup("patients", patient_id)
        if bed["occupied_by"] or bed["reserved_for"]:
            raise ToolError(f"bed {bed_id} is not free")
        bed["reserved_for"] = patient_id
        self._audit(f"{bed_id} reserved for {patient_id}")
        return {"bed_id": bed_id, "reserved_for": patient_id}

    @tool
    def add_patient_note(self, patient_id: str, note: str) -> dict:
        """Append a note to a patient's record.

        Args:
            patient_id: The patient.
            note: The note text.
        """
        patient = self.lookup("patients", patient_id)
        patient["notes"].append(note)
        return {"patient_id": patient_id, "notes": len(patient["notes"])}

    @tool
    def list_requests(self, patient_id: str | None = None, status: str | None = None) -> list[dict]:
        """List requests about patients' care or stay (visits, exceptions, family wishes).

        Args:
            patient_id: Only requests about this patient.
            status: Only requests with this status: open, approved, declined.
        """
        return [
            r
            for r in self.state["requests"].values()
            if (patient_id is None or r["patient_id"] == patient_id)
            and (status is None or r["status"] == status)
        ]

    @tool
    def decide_request(
        self,
        request_id: str,
        decision: Literal["approved", "declined"],
        note: str,
        conditions: str = "",
    ) -> dict:
        """Approve or decline an open request; a decided request cannot be decided again.

        Args:
            request_id: The request, e.g. "REQ-12".
            decision: approved or declined.
            note: The reason, recorded on the request and told to whoever asked.
            conditions: Any conditions attached to an approval.
        """
        request = self.lookup("requests", request_id)
        if request["status"] != "open":
            raise ToolError(f"request {request_id} was already {request['status']}")
        if not note.strip():
            raise ToolError("give the reason for the decision")
        request["status"] = decision
        request["decision_note"] = note
        request["conditions"] = conditions if decision == "approved" else ""
        self._audit(f"request {request_id} ({request['kind']}) {decision}")
        return {"request_id": request_id, "status": decision, "conditions": request["conditions"]}

    @tool
    def transfer_to_mortuary(self, patient_id: str, note: str) -> dict:
        """Send a deceased patient to the mortuary; their bed is freed.

        Args:
            patient_id: The deceased patient.
            note: Arrangements and handling instructions for the mortuary team.
        """
        patient = self.lookup("patients", patient_id)
        if patient["status"] != "deceased":
            raise ToolError(f"{patient_id} is {patient['status']}, not deceased")
        if patient["ward"] == "mortuary":
            raise ToolError(f"{patient_id} is already in the mortuary")
        if patient["bed_id"]:
            self.state["beds"][patient["bed_id"]]["occupied_by"] = None
        patient["bed_id"] = None
        patient["ward"] = "mortuary"
        patient["notes"].append(f"to mortuary: {note}")
        self._audit(f"{patient_id} transferred to the mortuary")
        return {"patient_id": patient_id, "ward": "mortuary"}

    @tool
    def list_staff(self, ward: str | None = None, role: str | None = None) -> list[dict]:
        """List staff members, optionally filtered by ward and role.

        Args:
            ward: Only staff of this ward.
            role: Only staff with this role, e.g. "nurse" or "bed_manager".
        """
        return [
            s
            for s in self.state["staff"].values()
            if (ward is None or s["ward"] == ward) and (role is None or s["role"] == role)
        ]

    @tool
    def reassign_staff(self, staff_id: str, ward: str) -> dict:
        """Move a staff member to another ward for the rest of the shift.

        Args:
            staff_id: The staff member to move.
            ward: The ward they move to.
        """
        member = self.lookup("staff", staff_id, "staff member")
        if not member["on_shift"]:
            raise ToolError(f"{staff_id} is not on shift")
        previous = member["ward"]
        member["ward"] = ward
        self._audit(f"{staff_id} moved from {previous} to {ward}")
        return {"staff_id": staff_id, "from": previous, "to": ward}

    @tool
    def escalate(self, to_role: str, subject: str, detail: str) -> dict:
        """Raise an issue with a role that can decide it (e.g. the bed manager or administrator).

        Args:
            to_role: The role to escalate to.
            subject: A short subject line.
            detail: What is needed and why.
        """
        escalation_id = self.ids.new("ESC")
        self.state["escalations"][escalation_id] = {
            "escalation_id": escalation_id,
            "to_role": to_role,
            "subject": subject,
            "detail": detail,
            "created_at": self.clock.iso(),
            "status": "open",
        }
        return {"escalation_id": escalation_id, "status": "open"}
