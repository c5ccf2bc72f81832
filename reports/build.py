"""Build a run's report: self-contained HTML (inline SVG, inline CSS) and the same as a PDF."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2

from analysis.load import load_run_dir
from analysis.palette import target_colours
from contract.results import write_bytes_atomic
from reports.context import ReportContext, report_context

REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"
FORMATS = ("html", "pdf")


class ReportError(ValueError):
    """A report that cannot be built (not a run directory, an unknown format)."""


def parse_formats(text: str) -> list[str]:
    """`html,pdf` → ["html", "pdf"], refusing unknown formats."""
    formats = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ReportError(f"unknown format {', '.join(unknown) or '(none)'}; use html, pdf or both")
    return formats


def template_environment() -> jinja2.Environment:
    """The report templates (reports/templates/), HTML-escaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(template: str, **values: Any) -> str:
    """Render a report template with the stylesheet inlined: nothing for a browser to fetch."""
    environment = template_environment()
    css = environment.loader.get_source(environment, "report.css")[0]  # type: ignore[union-attr]
    return environment.get_template(template).render(css=css, **values)


def render_html(context: ReportContext) -> str:
    """The report as one HTML document: styles inline, figures inline."""
    colours = target_colours([row.target for row in context.verdict])
    return render_template("report.html.j2", r=context, colours=colours)


def _fetch_nothing(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    # The report is self-contained; anything it would fetch is a bug, not a resource.
    raise ValueError(f"the report fetches nothing, refused {url}")


def html_to_pdf(html: str) -> bytes:
    """Render the HTML to PDF with WeasyPrint (print stylesheet: A4 pages)."""
    import weasyprint  # slow to import: only when a PDF is asked for

    # matplotlib's SVG style attributes are not CSS WeasyPrint knows; it draws them anyway.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=_fetch_nothing).write_pdf()
    return pdf


def build_report(
    run_dir: Path, formats: Sequence[str] = FORMATS, pricing_file: Path | None = None
) -> list[Path]:
    """Write report.html and/or report.pdf into the run directory; return their paths."""
    if not (run_dir / "run.json").is_file():
        raise ReportError(f"{run_dir} is not a run directory (no run.json)")
    context = report_context(load_run_dir(run_dir), pricing_file)
    html = render_html(context)
    written = []
    if "html" in formats:
        write_bytes_atomic(run_dir / REPORT_HTML, html.encode())
        written.append(run_dir / REPORT_HTML)
    if "pdf" in formats:
        write_bytes_atomic(run_dir / REPORT_PDF, html_to_pdf(html))
        written.append(run_dir / REPORT_PDF)
    return written


def context_json(context: ReportContext) -> dict[str, Any]:
    """The report's content as plain data (figures without their SVG), for tests and tools."""
    data = asdict(context)
    for figure in data["figures"]:
        figure["svg"] = figure["svg"] is not None
    return data
