import warnings

import pytest
from gymnasium.utils.env_checker import check_env

from envs.registry import environments, get_environment
from envs.sdk import StateModel, ToolEnv, ToolError, build_tool, tool


class CounterState(StateModel):
    counters: dict[str, int] = {}


class Counter(ToolEnv):
    name = "counter_test"
    State = CounterState

    @tool
    def bump(self, key: str, by: int = 1) -> dict:
        """Add to a counter.

        Args:
            key: Which counter.
            by: How much to add; must be positive.
        """
        if by <= 0:
            self.state["counters"][key] = -999  # written before failing: must be rolled back
            raise ToolError("by must be positive")
        self.state["counters"][key] = self.state["counters"].get(key, 0) + by
        return {"key": key, "value": self.state["counters"][key], "at": self.clock.iso()}

    @tool
    def peek(self, key: str) -> int:
        """Read a counter.

        Args:
            key: Which counter.
        """
        return self.state["counters"].get(key, 0)

    @tool
    def stamp(self) -> str:
        """Make a new id."""
        return self.ids.new("C")

    @tool
    def crash(self) -> None:
        """A tool with a bug."""
        raise RuntimeError("boom")


def fresh(allowed=None, seed=0) -> Counter:
    env = Counter()
    env.reset(seed=seed, options={"state": {"counters": {"x": 1}}, "allowed_tools": allowed})
    return env


def test_schema_comes_from_hints_and_docstring():
    spec = Counter.tools["bump"].spec
    assert spec.description == "Add to a counter."
    props = spec.parameters["properties"]
    assert props["key"] == {"type": "string", "description": "Which counter."}
    assert props["by"]["type"] == "integer" and props["by"]["default"] == 1
    assert spec.parameters["required"] == ["key"]
    assert spec.parameters["additionalProperties"] is False


def test_tool_without_docstring_or_hint_is_rejected_at_declaration():
    def undocumented(self, key: str) -> None:
        pass

    def unhinted(self, key) -> None:
        """Doc."""

    with pytest.raises(TypeError, match="docstring"):
        build_tool(undocumented)
    with pytest.raises(TypeError, match="type hint"):
        build_tool(unhinted)


def test_invalid_arguments_return_a_clear_error_result():
    env = fresh()
    result = env.call("bump", {"key": "x", "by": "lots"})
    assert not result.ok and result.error_kind == "invalid_arguments"
    assert "by" in result.error
    assert not env.call("bump", {"by": 1}).ok  # missing key
    assert "Extra inputs" in env.call("bump", {"key": "x", "colour": 1}).error
    assert env.state["counters"] == {"x": 1}


def test_step_accepts_json_text_and_reports_bad_json():
    env = fresh()
    obs, reward, _, _, info = env.step({"tool": "bump", "arguments": '{"key": "x"}'})
    assert info["result"].ok and '"value":2' in obs and reward == 0.0
    _, _, _, _, info = env.step({"tool": "bump", "arguments": "{not json"})
    assert info["result"].error_kind == "invalid_arguments"
    # JSON that is not an object, to a tool that does not exist (as gymnasium's checker sends)
    _, _, _, _, info = env.step({"tool": "nosuchtool", "arguments": "0"})
    assert info["result"].error_kind == "unknown_tool"
    assert env.tool_log[-1].arguments == {}


def test_allow_list_refuses_logs_and_never_executes():
    env = fresh(allowed=["peek"])
    result = env.call("bump", {"key": "x"})
    assert not result.ok and result.error_kind == "refused"
    assert env.state["counters"] == {"x": 1}
    entry = env.tool_log[-1]
    assert entry.refused and entry.tool == "bump" and not entry.state_changed
    assert [s.name for s in env.tool_specs()] == ["peek"]
    assert env.call("nope", {}).error_kind == "unknown_tool"


def test_failed_tool_leaves_no_partial_write_and_bugs_become_results():
    env = fresh()
    assert env.call("bump", {"key": "x", "by": 0}).error == "by must be positive"
    assert env.state["counters"] == {"x": 1}
    crash = env.call("crash", {})
    assert crash.error_kind == "internal" and "boom" in crash.error


def test_clock_and_ids_are_seeded_not_wall_clock():
    a, b, c = fresh(seed=7), fresh(seed=7), fresh(seed=8)
    assert a.call("stamp", {}).data == b.call("stamp", {}).data != c.call("stamp", {}).data
    assert a.call("bump", {"key": "x"}).data["at"] == "2026-03-02T09:01:00+00:00"
    assert [e.clock for e in a.tool_log] == [
        "2026-03-02T09:00:00+00:00",
        "2026-03-02T09:01:00+00:00",
    ]


def test_tool_log_state_changes_and_diff():
    env = fresh()
    env.call("peek", {"key": "x"})
    env.call("bump", {"key": "y", "by": 2})
    log = env.tool_log
    assert [e.state_changed for e in log] == [False, True]
    final = env.finalize()
    assert final.final_state["counters"] == {"x": 1, "y": 2}
    assert final.state_diff == [{"op": "add", "path": "/counters/y", "value": 2}]


def test_results_are_copies_not_live_state():
    env = fresh()
    first = env.call("bump", {"key": "x"}).data
    env.call("bump", {"key": "x"})
    assert first["value"] == 2


def test_initial_state_is_validated():
    assert Counter.validate_state({"counters": {"x": "many"}})
    assert Counter.validate_state({"colour": 1})
    assert Counter.validate_state({"counters": {"x": 3}}) == []


def test_check_env_passes_for_the_test_env():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(Counter(), skip_render_check=True)


@pytest.mark.parametrize("name", list(environments()))
def test_every_bundled_environment_passes_gymnasium_check_env(name):
    env_cls = get_environment(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env_cls(), skip_render_check=True)
    assert len(env_cls.tools) >= 5, f"{name} needs at least 5 tools"
    assert all(d.spec.description for d in env_cls.tools.values())


def test_multi_line_summary_becomes_one_paragraph():
    def wrapped(self, key: str) -> None:
        """Read a counter, which may
        have been bumped by anyone.

        Second paragraph.

        Args:
            key: Which
                counter.
        """

    spec = build_tool(wrapped).spec
    assert (
        spec.description
        == "Read a counter, which may have been bumped by anyone.\n\nSecond paragraph."
    )
    assert spec.parameters["properties"]["key"]["description"] == "Which counter."


def test_sequential_ids_do_not_depend_on_the_seed():
    from envs.clock import IdSource

    a, b = IdSource(1), IdSource(2)
    assert [a.sequence("Q"), a.sequence("Q"), a.sequence("R")] == ["Q-0001", "Q-0002", "R-0001"]
    assert b.sequence("Q") == "Q-0001"


def test_subclass_helpers_cannot_clobber_the_base_class_bookkeeping():
    class Noisy(Counter):
        name = "noisy_test"

        def _log(self, line: str) -> None:  # a natural helper name in an environment
            self.state["counters"][line] = 0

        @tool
        def note(self, line: str) -> None:
            """Record a line.

            Args:
                line: The line.
            """
            self._log(line)

    env = Noisy()
    env.reset(options={"state": {}})
    assert env.call("note", {"line": "x"}).ok
    assert [e.tool for e in env.tool_log] == ["note"]


def test_lookup_names_known_ids_on_request_and_singularises_collections():
    env = fresh()
    env.state["policies"] = {"refunds": "…", "access": "…"}
    with pytest.raises(ToolError, match=r"^no policy 'x'; policies: access, refunds$"):
        env.lookup("policies", "x", list_known=True)
    with pytest.raises(ToolError, match=r"^no policy with id 'x'$"):
        env.lookup("policies", "x")
    assert env.lookup("policies", "access") == "…"
