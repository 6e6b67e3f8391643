"""Skills: steering documents (a folder with a SKILL.md) injected into a harness.

SKILL.md starts with YAML front matter (`name`, `description`) followed by the instructions.
Harnesses decide how to inject them; the react and LangGraph harnesses add a system-prompt
section. Trajectories record which skills were active.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field


class Skill(BaseModel):
    name: str
    description: str
    path: str
    body: str
    references: list[str] = Field(default_factory=list, description="Other files in the folder.")


class SkillError(ValueError):
    pass


def load_skill(path: Path) -> Skill:
    """Read a skill folder (or its SKILL.md directly)."""
    folder = path if path.is_dir() else path.parent
    skill_file = folder / "SKILL.md"
    if not skill_file.exists():
        raise SkillError(f"{path}: no SKILL.md found")
    text = skill_file.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise SkillError(f"{skill_file}: expected YAML front matter starting with '---'")
    _, front, body = text.split("---", 2)
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        raise SkillError(f"{skill_file}: front matter is not valid YAML: {exc}") from exc
    for field in ("name", "description"):
        if not isinstance(meta.get(field), str) or not meta[field].strip():
            raise SkillError(f"{skill_file}: front matter field {field!r} is required")
    references = sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p != skill_file
    )
    return Skill(
        name=meta["name"],
        description=meta["description"],
        path=str(folder),
        body=body.strip(),
        references=references,
    )


def system_prompt_section(skills: list[Skill]) -> str:
    """The text appended to a system prompt to make skills active."""
    if not skills:
        return ""
    parts = ["# Skills", "Follow these skills while you work."]
    for skill in skills:
        parts.append(f"## {skill.name}\n{skill.description}\n\n{skill.body}")
    return "\n\n".join(parts)
