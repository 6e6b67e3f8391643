"""A small format-neutral report document, written out as markdown or one self-contained HTML file.

Reports are built once as sections of paragraphs, tables and figures, then rendered: markdown
keeps the tables (figures are only in the HTML), HTML inlines every figure as SVG, so the file
can be mailed or archived alone. The terminal view prints the same tables with rich.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from judges.stats import Estimate


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    """A table; `note` may hold several lines (warnings), each printed on its own line."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""

    def note_lines(self) -> list[str]:
        return [line for line in self.note.splitlines() if line.strip()]


@dataclass
class Figure:
    """A figure drawn only when a page shows it (`svg`): a terminal or markdown report of
    thousands of values never pays for drawing it."""

    title: str
    draw: Callable[[], str]
    note: str = ""

    @cached_property
    def svg(self) -> str:
        return self.draw()


Block = Paragraph | Table | Figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    intro: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    out += [line for text in doc.intro for line in (text, "")]
    for section in doc.sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out += [block.text, ""]
            elif isinstance(block, Table):
                if block.title:
                    out += [f"**{block.title}**", ""]
                out.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
                out.append("|" + "---|" * len(block.headers))
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                out.append("")
                out += [line for note in block.note_lines() for line in (f"_{note}_", "")]
            else:
                out += [f"_Figure: {block.title} (in the HTML report)._", ""]
    return "\n".join(out).rstrip() + "\n"


STYLE = """
body { font-family: system-ui, -apple-system, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1d232a; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #d5dae0; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #d5dae0; padding: .25rem .55rem; text-align: left;
         vertical-align: top; }
th { background: #f1f4f7; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.note { color: #5b6670; font-size: .85rem; } figure { margin: 1rem 0 1.6rem; }
figcaption { font-weight: 600; margin-bottom: .3rem; } svg { max-width: 100%; height: auto; }
"""


def to_html(doc: Document) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
    ]
    out += [f"<p>{e(text)}</p>" for text in doc.intro]
    for section in doc.sections:
        out.append(f"<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Paragraph):
                out.append(f"<p>{e(block.text)}</p>")
            elif isinstance(block, Table):
                out.append("<table>")
                if block.title:
                    out.append(f"<caption>{e(block.title)}</caption>")
                out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in block.headers) + "</tr>")
                for row in block.rows:
                    out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
                out.append("</table>")
                out += [f'<p class="note">{e(note)}</p>' for note in block.note_lines()]
            else:
                out.append(f"<figure><figcaption>{e(block.title)}</figcaption>")
                out.append(block.svg)  # produced by matplotlib, not by user input
                if block.note:
                    out.append(f'<p class="note">{e(block.note)}</p>')
                out.append("</figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def number(x: float | None, digits: int = 2, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def interval(e: Estimate, digits: int = 2, signed: bool = False) -> str:
    """`6.29 [5.61, 6.81]`; the interval is left out where it is undefined."""
    if e.value is None:
        return "-"
    text = number(e.value, digits, signed)
    if e.low is not None and e.high is not None:
        text += f" [{number(e.low, digits, signed)}, {number(e.high, digits, signed)}]"
    return text


def p_value(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
