"""What the world ended up like: state matchers evaluated on a final state and its diff.

A `World` is the final state plus the RFC 6902 diff from the initial state, both recorded by
the environment at finalize. Values are read from the final state; "unchanged" is read from
the diff, conservatively: an insertion or removal in a list counts as touching every element
of that list, since it shifts their indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envs.task import ArgConstraint, StateMatcher, pointer_tokens

Tokens = tuple[str, ...]
_ABSENT = object()


@dataclass(frozen=True)
class World:
    final_state: dict[str, Any]
    state_diff: list[dict[str, Any]] = field(default_factory=list)

    def touched(self) -> list[Tokens]:
        """Every place the diff changed, with list shifts widened to the whole list."""
        places = []
        for op in self.state_diff:
            for key in ("path", "from") if op.get("op") == "move" else ("path",):
                tokens = tuple(pointer_tokens(str(op.get(key, ""))))
                shifts = op.get("op") in ("add", "remove", "move")
                if shifts and tokens and (tokens[-1].isdigit() or tokens[-1] == "-"):
                    tokens = (*tokens[:-1], "*")
                places.append(tokens)
        return places


def resolve(data: Any, tokens: Tokens) -> Any:
    """The value at a concrete place, or `_ABSENT`."""
    for token in tokens:
        if isinstance(data, dict) and token in data:
            data = data[token]
        elif isinstance(data, list) and token.isdigit() and int(token) < len(data):
            data = data[int(token)]
        else:
            return _ABSENT
    return data


def expand(data: Any, tokens: Tokens, prefix: Tokens = ()) -> list[Tokens]:
    """The concrete places a pattern names that exist in `data` (`*`: any key or index)."""
    if not tokens:
        return [prefix]
    head, rest = tokens[0], tokens[1:]
    if head == "*":
        if isinstance(data, dict):
            keys = list(data)
        elif isinstance(data, list):
            keys = [str(i) for i in range(len(data))]
        else:
            return []
        return [p for k in keys for p in expand(resolve(data, (k,)), rest, (*prefix, k))]
    value = resolve(data, (head,))
    return [] if value is _ABSENT else expand(value, rest, (*prefix, head))


def _related(a: Tokens, b: Tokens) -> bool:
    """Whether one place contains the other (`*` matches any segment on either side)."""
    return all(x == y or "*" in (x, y) for x, y in zip(a, b, strict=False))


def _constraint_holds(constraint: ArgConstraint, value: Any) -> bool:
    present = value is not _ABSENT and value is not None
    return constraint.matches(present, None if value is _ABSENT else value)


def state_holds(matcher: StateMatcher, world: World) -> bool:
    """Whether the final state satisfies one state matcher."""
    pattern = tuple(pointer_tokens(matcher.path))
    touched = world.touched()

    def place_ok(place: Tokens) -> bool:
        if matcher.value is not None and not _constraint_holds(
            matcher.value, resolve(world.final_state, place)
        ):
            return False
        if matcher.unchanged is not None:
            changed = any(_related(t, place) for t in touched)
            return changed is not matcher.unchanged
        return True

    if not matcher.wildcard:
        return place_ok(pattern)
    places = expand(world.final_state, pattern)
    if matcher.match == "all":  # every place there is (none: vacuously), and none removed
        removed_ok = matcher.unchanged is not True or not any(_related(t, pattern) for t in touched)
        return removed_ok and all(place_ok(p) for p in places)
    if not places:  # nothing there: judged as one absent place
        return place_ok(pattern)
    return any(place_ok(p) for p in places)


def result_field(data: Any, key: str) -> Any:
    """A result field by name, or by JSON pointer when the key starts with `/`."""
    tokens = tuple(pointer_tokens(key)) if key.startswith("/") else (key,)
    return resolve(data, tokens)


def result_holds(constraints: dict[str, ArgConstraint], data: Any) -> bool:
    return all(_constraint_holds(c, result_field(data, k)) for k, c in constraints.items())
