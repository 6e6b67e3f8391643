"""Skills: steering documents (a folder with a SKILL.md) injected into a harness.

SKILL.md starts with YAML front matter (`name`, `description`) followed by the instructions.
Harnesses decide how to inject them; the react and LangGraph harnesses add a system-prompt
section. Trajectories record which skills were active.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import BaseModel, Field


class Skill(BaseModel):
    name: str
    description: str
    path: str
    body: str
    references: list[str] = Field(default_factory=list, description="Other files in the folder.")
    reference_texts: dict[str, str] = Field(
        default_factory=dict,
        description="Contents of the small text references, so a run's snapshot is complete.",
    )
    content_hash: str = Field(
        default="",
        description="SHA-256 of SKILL.md and every reference file: variants of one skill "
        "(the same name written for different models) stay apart.",
    )

    @property
    def label(self) -> str:
        """The name with a short content hash, e.g. `care-first@3f9a21c0b7de`."""
        return f"{self.name}@{self.content_hash[:12]}" if self.content_hash else self.name


class SkillError(ValueError):
    pass


MAX_REFERENCE_BYTES = 32_000


def _read_reference(path: Path) -> str | None:
    """A reference file's text when it is small UTF-8 text (harnesses inline it), else None."""
    if path.stat().st_size > MAX_REFERENCE_BYTES:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


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
    texts = {name: _read_reference(folder / name) for name in references}
    digest = hashlib.sha256()
    for name in ["SKILL.md", *references]:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return Skill(
        name=meta["name"],
        description=meta["description"],
        path=str(folder),
        body=body.strip(),
        references=references,
        reference_texts={name: text for name, text in texts.items() if text is not None},
        content_hash=digest.hexdigest(),
    )


def system_prompt_section(skills: list[Skill]) -> str:
    """The text appended to a system prompt to make skills active."""
    if not skills:
        return ""
    parts = ["# Skills", "Follow these skills while you work."]
    for skill in skills:
        parts.append(f"## {skill.name}\n{skill.description}\n\n{skill.body}")
        for name, text in skill.reference_texts.items():
            parts.append(f"### {skill.name}/{name}\n{text.strip()}")
    return "\n\n".join(parts)
