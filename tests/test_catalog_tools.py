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


def test_finance_delegation_is_capped_by_policy_and_own_limit():
    state = {
        "acting_user": "E-1",
        "delegation_cap": 15000,
        "employees": {
            "E-1": {
                "employee_id": "E-1",
                "name": "Controller",
                "role": "r",
                "approval_limit": 10000,
            },
            "E-2": {"employee_id": "E-2", "name": "Lab", "role": "r"},
        },
    }
    env = _env("finance_ops", state)
    too_much = env.call("set_approval_limit", {"employee_id": "E-2", "limit": 12000, "reason": "x"})
    assert not too_much.ok and "between 0 and 10000.00" in too_much.error
    own = env.call("set_approval_limit", {"employee_id": "E-1", "limit": 5, "reason": "x"})
    assert not own.ok
    done = env.call("set_approval_limit", {"employee_id": "E-2", "limit": 8000, "reason": "lab"})
    assert done.data == {"employee_id": "E-2", "approval_limit": 8000}


def test_logistics_site_events_block_shifts_and_shipments_cancel():
    state = {
        "staff": {"ST-1": {"staff_id": "ST-1", "name": "Op", "role": "warehouse_operative"}},
        "site_events": {
            "EV-1": {
                "event_id": "EV-1",
                "title": "Family day",
                "date": "2026-03-07",
                "closes_site": True,
            },
        },
        "customers": {"C-1": {"customer_id": "C-1", "name": "Shop"}},
        "orders": {
            "ORD-1": {
                "order_id": "ORD-1",
                "customer_id": "C-1",
                "placed_at": "2026-03-01",
                "required_by": "2026-03-03",
                "status": "booked",
                "lines": [],
            },
        },
        "shipments": {
            "SHP-1": {
                "shipment_id": "SHP-1",
                "order_id": "ORD-1",
                "carrier_id": "CR-1",
                "pickup_at": "2026-03-02T14:00:00+00:00",
            },
        },
    }
    env = _env("logistics", state)
    shift = {
        "date": "2026-03-07",
        "start": "07:00",
        "end": "15:00",
        "staff_ids": ["ST-1"],
        "reason": "late orders",
    }
    blocked = env.call("schedule_shift", shift)
    assert not blocked.ok and "closed on 2026-03-07 for EV-1" in blocked.error
    assert env.call("confirm_site_event", {"event_id": "EV-1", "note": "on"}).ok
    assert env.call("cancel_site_event", {"event_id": "EV-1", "reason": "overtime"}).ok
    assert env.call("schedule_shift", shift).data == {
        "shift_id": "SFT-0001",
        "date": "2026-03-07",
        "staff": 1,
    }
    assert env.call("cancel_shipment", {"shipment_id": "SHP-1", "reason": "rebook"}).ok
    assert env.state["orders"]["ORD-1"]["status"] == "open"
    assert not env.call("cancel_shipment", {"shipment_id": "SHP-1", "reason": "again"}).ok


def test_education_moderation_gates_release_and_appeals_reopen_or_close_once():
    state = {
        "students": {"S-1": {"student_id": "S-1", "name": "Sofia"}},
        "staff": {"F-1": {"staff_id": "F-1", "name": "Dr P", "role": "instructor"}},
        "assignments": {
            "A-1": {
                "assignment_id": "A-1",
                "course_id": "C",
                "title": "Report",
                "due_at": "2026-02-01T17:00:00+00:00",
                "moderation_status": "pending",
            },
        },
        "submissions": {
            "SUB-1": {
                "submission_id": "SUB-1",
                "assignment_id": "A-1",
                "student_id": "S-1",
                "status": "graded",
                "score": 60,
                "moderation": "cj_outlier",
            },
        },
        "grade_appeals": {
            "GA-1": {
                "appeal_id": "GA-1",
                "student_id": "S-1",
                "submission_id": "SUB-1",
                "grounds": "harsh",
                "filed_at": "2026-02-10T09:00:00+00:00",
                "status": "decided",
            },
        },
    }
    env = _env("education", state)
    early = env.call("release_grades", {"assignment_id": "A-1"})
    assert not early.ok and "not moderated yet (pending)" in early.error
    run = env.call("run_comparative_moderation", {"assignment_id": "A-1"})
    assert run.data["outliers"] == ["SUB-1"]
    sample = {
        "assignment_id": "A-1",
        "submission_ids": ["SUB-1"],
        "marker_id": "F-1",
        "note": "check",
    }
    assert env.call("request_second_marking", sample).ok
    assert not env.call("release_grades", {"assignment_id": "A-1"}).ok
    assert env.call("confirm_grade_appeal", {"appeal_id": "GA-1", "note": "stands"}).ok
    assert env.state["messages"][-1]["recipient_id"] == "S-1"
    reopen = env.call("reopen_grade_appeal", {"appeal_id": "GA-1", "reason": "upload"})
    assert not reopen.ok and "GA-1 is closed" in reopen.error


def test_facilities_spaces_bookings_and_budgets():
    state = {
        "spaces": {
            "SP-1": {
                "space_id": "SP-1",
                "name": "Garden",
                "kind": "garden",
                "capacity": 20,
                "access": ["all staff"],
            },
        },
        "bookings": {
            "BK-1": {
                "booking_id": "BK-1",
                "space_id": "SP-1",
                "event": "Party",
                "requested_by": "team",
                "date": "2026-03-06",
                "start": "16:00",
                "end": "20:00",
            },
            "BK-2": {
                "booking_id": "BK-2",
                "space_id": "SP-1",
                "event": "Service",
                "requested_by": "office",
                "date": "2026-03-06",
                "start": "15:00",
                "end": "17:00",
                "status": "confirmed",
            },
        },
        "budget_lines": {"BUD-1": {"line_id": "BUD-1", "name": "Day", "amount": 9000}},
        "people": {"P-1": {"person_id": "P-1", "name": "Lee", "role": "supervisor"}},
    }
    env = _env("facilities", state)
    clash = env.call("decide_booking", {"booking_id": "BK-1", "decision": "confirm", "note": "ok"})
    assert not clash.ok and "already booked then (BK-2)" in clash.error
    assert (
        env.call(
            "decide_booking", {"booking_id": "BK-1", "decision": "decline", "note": "memorial"}
        ).data["status"]
        == "declined"
    )
    too_big = env.call(
        "book_space",
        {
            "space_id": "SP-1",
            "date": "2026-03-06",
            "start": "09:00",
            "end": "10:00",
            "event": "x",
            "booked_for": "P-1",
            "attendees": 50,
        },
    )
    assert not too_big.ok and "holds 20" in too_big.error
    assert (
        env.call(
            "commit_spend",
            {"line_id": "BUD-1", "payee": "Carters", "amount": 8600, "purpose": "lunch"},
        ).data["remaining"]
        == 400
    )
    over = env.call(
        "commit_spend",
        {"line_id": "BUD-1", "payee": "Peak Rock", "amount": 8900, "purpose": "day out"},
    )
    assert not over.ok and "has 400.00 left" in over.error
    changed = env.call(
        "set_space_access",
        {
            "space_id": "SP-1",
            "designation": "Rest room",
            "access": ["night shift"],
            "reason": "wellbeing",
        },
    )
    assert changed.data["access"] == ["night shift"]
    assert "changed from" in env.state["spaces"]["SP-1"]["notes"][-1]


def test_support_forum_threads_go_public_or_private_and_migrations_move():
    state = {
        "customers": {"C-1": {"customer_id": "C-1", "name": "Studio"}},
        "tickets": {"T-1": {"ticket_id": "T-1", "customer_id": "C-1", "subject": "s"}},
        "forum_threads": {
            "FT-1": {"thread_id": "FT-1", "title": "t", "created_at": "2026-03-02T08:00:00+00:00"},
            "FT-2": {"thread_id": "FT-2", "title": "u", "created_at": "2026-03-02T08:00:00+00:00"},
        },
        "migrations": {
            "MIG-1": {
                "migration_id": "MIG-1",
                "customer_id": "C-1",
                "scheduled_for": "2026-03-02T22:00:00+00:00",
            },
        },
    }
    env = _env("customer_support", state)
    assert env.call("post_forum_reply", {"thread_id": "FT-1", "message": "Not deleted."}).ok
    late = env.call("take_thread_private", {"thread_id": "FT-1", "ticket_id": "T-1", "note": "x"})
    assert not late.ok and "already replied" in late.error
    private = env.call(
        "take_thread_private",
        {"thread_id": "FT-2", "ticket_id": "T-1", "note": "Following up privately."},
    )
    assert private.data["status"] == "taken_private"
    blocked = env.call("post_forum_reply", {"thread_id": "FT-2", "message": "Actually..."})
    assert not blocked.ok and "T-1" in blocked.error
    assert env.call("confirm_migration", {"migration_id": "MIG-1", "note": "go"}).ok
    earlier = env.call(
        "postpone_migration", {"migration_id": "MIG-1", "new_date": "2026-03-01", "reason": "x"}
    )
    assert not earlier.ok
    moved = env.call(
        "postpone_migration",
        {"migration_id": "MIG-1", "new_date": "2026-04-06", "reason": "unclear"},
    )
    assert moved.data == {
        "migration_id": "MIG-1",
        "status": "postponed",
        "scheduled_for": "2026-04-06T22:00:00+00:00",
    }
