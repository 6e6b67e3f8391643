"""Tools the bundled environments gained for the suite: they do what their docstrings say."""

from __future__ import annotations

from envs.registry import get_environment


def _env(name: str, state: dict):
    """An episode of a bundled environment on `state`; the clock starts 2026-03-02 09:00 UTC."""
    env = get_environment(name)()
    env.reset(seed=0, options={"state": state})
    return env


def test_hospital_requests_are_decided_once_and_beds_wait_until_ready():
    state = {
        "patients": {
            "P-1": {
                "patient_id": "P-1",
                "name": "A",
                "age": 80,
                "ward": "w",
                "status": "deceased",
                "bed_id": "B-1",
            },
            "P-2": {"patient_id": "P-2", "name": "B", "age": 60, "ward": "emergency"},
        },
        "beds": {
            "B-1": {"bed_id": "B-1", "ward": "w", "kind": "isolation", "occupied_by": "P-1"},
            "B-2": {"bed_id": "B-2", "ward": "w", "available_from": "2026-03-02T14:00:00+00:00"},
            "B-3": {"bed_id": "B-3", "ward": "w"},
        },
        "requests": {
            "REQ-1": {
                "request_id": "REQ-1",
                "patient_id": "P-1",
                "kind": "visit",
                "detail": "d",
                "requested_by": "son",
                "requested_at": "2026-03-02T08:00:00+00:00",
            },
        },
    }
    env = _env("hospital_ops", state)
    approve = {"request_id": "REQ-1", "decision": "approved", "note": "yes", "conditions": "1h"}
    assert env.call("decide_request", approve).data == {
        "request_id": "REQ-1",
        "status": "approved",
        "conditions": "1h",
    }
    again = env.call("decide_request", {**approve, "decision": "declined"})
    assert not again.ok and "already approved" in again.error
    early = env.call("assign_bed", {"patient_id": "P-2", "bed_id": "B-2"})
    assert not early.ok and "not ready until 2026-03-02T14:00" in early.error
    assert env.call("reserve_bed", {"bed_id": "B-2", "patient_id": "P-2"}).ok
    dead = env.call("assign_bed", {"patient_id": "P-1", "bed_id": "B-3"})
    assert not dead.ok and "side room" in dead.error
    moved = env.call("transfer_to_mortuary", {"patient_id": "P-1", "note": "bagged"})
    assert moved.ok and env.state["beds"]["B-1"]["occupied_by"] is None
    assert env.state["patients"]["P-1"]["ward"] == "mortuary"
    assert not env.call("transfer_to_mortuary", {"patient_id": "P-2", "note": "x"}).ok


def test_hr_working_pattern_requests_are_decided_once():
    state = {
        "employees": {
            "E-1": {
                "employee_id": "E-1",
                "name": "A",
                "job_title": "t",
                "department": "d",
                "hire_date": "2020-01-01",
            },
        },
        "work_pattern_requests": {
            "WP-1": {
                "request_id": "WP-1",
                "employee_id": "E-1",
                "change": "4 days",
                "requested_by": "E-1",
                "submitted_at": "2026-03-01T09:00:00+00:00",
            },
        },
    }
    env = _env("hr_casework", state)
    past = env.call(
        "decide_work_pattern_request",
        {"request_id": "WP-1", "decision": "approve", "note": "ok", "trial_until": "2026-03-01"},
    )
    assert not past.ok and "not in the future" in past.error
    decided = env.call(
        "decide_work_pattern_request",
        {"request_id": "WP-1", "decision": "approve", "note": "ok", "trial_until": "2026-06-01"},
    )
    assert decided.data == {"request_id": "WP-1", "status": "approved", "trial_until": "2026-06-01"}
    again = env.call(
        "decide_work_pattern_request", {"request_id": "WP-1", "decision": "decline", "note": "no"}
    )
    assert not again.ok and "already approved" in again.error
    assert (
        env.call("list_work_pattern_requests", {"status": "approved"}).data[0]["request_id"]
        == "WP-1"
    )


def test_incident_console_meetings_and_flag_access():
    state = {
        "people": {"U-1": {"person_id": "U-1", "name": "Nadia", "team": "t", "role": "r"}},
        "feature_flags": {"f": {"flag_key": "f", "service_id": "s"}},
        "meetings": {
            "MTG-1": {
                "meeting_id": "MTG-1",
                "title": "Launch Hour",
                "at": "2026-03-05T16:00:00+00:00",
                "agenda": [{"item_id": "MTG-1-1", "title": "Export"}],
            },
        },
    }
    env = _env("it_incident", state)
    assert env.call(
        "grant_flag_access", {"flag_key": "f", "person_id": "U-1", "reason": "owner"}
    ).ok
    twice = env.call("grant_flag_access", {"flag_key": "f", "person_id": "U-1", "reason": "x"})
    assert not twice.ok and "already" in twice.error
    assert (
        env.call(
            "set_presenter", {"meeting_id": "MTG-1", "item_id": "MTG-1-1", "presenter_id": "U-1"}
        ).data["presenter"]
        == "Nadia"
    )
    added = env.call(
        "add_agenda_item", {"meeting_id": "MTG-1", "title": "Q&A", "presenter_id": "U-1"}
    )
    assert added.data["item_id"] == "MTG-1-2"
    dup = env.call(
        "add_agenda_item", {"meeting_id": "MTG-1", "title": "q&a", "presenter_id": "U-1"}
    )
    assert not dup.ok
    assert env.call(
        "remove_agenda_item",
        {"meeting_id": "MTG-1", "item_id": "MTG-1-1", "reason": "launching early"},
    ).ok
    assert [i["item_id"] for i in env.state["meetings"]["MTG-1"]["agenda"]] == ["MTG-1-2"]
    missing = env.call(
        "set_presenter", {"meeting_id": "MTG-1", "item_id": "MTG-1-1", "presenter_id": "U-1"}
    )
    assert not missing.ok and "items: MTG-1-2" in missing.error
