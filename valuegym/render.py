"""Printing reports as rich tables for people (the JSON form is the pydantic model itself)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable

from judges.document import Document, Paragraph, Table
from judges.report import RunReport


def print_document(document: Document, console: Console) -> None:
    """The document's text and tables; figures are left to the HTML report."""
    console.rule(document.title)
    for line in document.intro:
        console.print(line, highlight=False)
    for section in document.sections:
        for block in section.blocks:
            if isinstance(block, Paragraph):
                console.print(block.text, highlight=False)
            elif isinstance(block, Table):
                table = RichTable(*block.headers, title=block.title or section.title)
                for row in block.rows:
                    table.add_row(*row)
                console.print(table)
                for note in block.note_lines():
                    console.print(note, style="yellow", highlight=False)


def print_report(report: RunReport, console: Console, episodes: bool = True) -> None:
    from judges.run_document import run_document

    print_document(run_document(report, episodes=episodes), console)
