"""Seeded arguments that satisfy a tool's JSON schema, for the `random` policy.

Strings are drawn from the words of the task's initial state (record ids, names, statuses),
so random calls sometimes hit real records instead of always failing on made-up ids.
"""

from __future__ import annotations

import random
from typing import Any

MAX_WORD = 40


def vocabulary(state: Any) -> list[str]:
    """Short strings (keys and values) found anywhere in a state, sorted for determinism."""
    words: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and len(key) <= MAX_WORD:
                    words.add(key)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str) and 0 < len(node) <= MAX_WORD:
            words.add(node)

    walk(state)
    return sorted(words)


def sample_arguments(
    schema: dict[str, Any], rng: random.Random, words: list[str]
) -> dict[str, Any]:
    """An object for a tool's `parameters` schema: every required field, some optional ones."""
    value = _sample(schema, rng, words, schema, depth=0)
    return value if isinstance(value, dict) else {}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _sample(
    schema: dict[str, Any], rng: random.Random, words: list[str], root: dict[str, Any], depth: int
) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _sample(rng.choice(options), rng, words, root, depth)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        required = set(schema.get("required", []))
        properties = schema.get("properties", {})
        return {
            name: _sample(sub, rng, words, root, depth + 1)
            for name, sub in properties.items()
            if name in required or (depth < 2 and rng.random() < 0.3)
        }
    if kind == "array":
        count = rng.randint(schema.get("minItems", 0), max(schema.get("minItems", 0), 2))
        items = schema.get("items", {"type": "string"})
        return [_sample(items, rng, words, root, depth + 1) for _ in range(count)]
    if kind == "integer":
        low = int(schema.get("minimum", 0))
        return rng.randint(low, int(schema.get("maximum", low + 10)))
    if kind == "number":
        low = float(schema.get("minimum", 0.0))
        return round(rng.uniform(low, float(schema.get("maximum", low + 100.0))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    return rng.choice(words) if words else "example"
