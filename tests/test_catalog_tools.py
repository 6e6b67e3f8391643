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
