"""The docs site's CLI reference, generated from the typer app at build time (a mkdocs hook).

mkdocs.yml lists this file under `hooks:`. On every build it renders `tbench`'s commands,
arguments and options with typer's own Markdown generator (what `typer tbench.cli utils docs`
prints) and adds the page as `reference/cli.md`; nothing is committed, so it cannot drift.
"""

from __future__ import annotations

import typer
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from typer.cli import get_docs_for_click
from typer.core import MARKUP_MODE_KEY

from tbench.cli import app

PAGE = "reference/cli.md"
PROGRAM = "tbench"
INTRO = (
    "Generated from the typer app in `tbench/cli.py` when the site is built; "
    "`.venv/bin/tbench COMMAND --help` prints the same.\n\n"
)


def cli_reference() -> str:
    """The Markdown of every `tbench` command, as typer's `utils docs` writes it."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name=PROGRAM, obj={MARKUP_MODE_KEY: app.rich_markup_mode})
    docs = get_docs_for_click(obj=command, ctx=ctx, name=PROGRAM, title="CLI reference")
    title, _, body = docs.partition("\n\n")
    return f"{title}\n\n{INTRO}{body.strip()}\n"


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """mkdocs hook: add the generated page to the site's files."""
    files.append(File.generated(config, PAGE, content=cli_reference()))
    return files
