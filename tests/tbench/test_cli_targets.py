"""`tbench targets`: one row a target, its columns aligned, whatever the terminal's width."""

from __future__ import annotations

from typer.testing import CliRunner

from contract.registry import TARGETS
from tbench.cli import app


def test_every_target_is_listed_with_its_scheme_resume_and_description():
    result = CliRunner().invoke(app, ["targets"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    text = " ".join(result.output.split())
    for spec in TARGETS.values():
        resume = "resume" if spec.supports_resume else "no resume"
        (row,) = [line for line in lines if line.split()[:1] == [spec.name]]
        assert row.split()[1:][: 1 + len(resume.split())] == [spec.scheme, *resume.split()]
        assert " ".join(spec.description.split()) in text  # wrapped, maybe, but whole
    # a column starts at the same place on every row
    rows = [line for line in lines if line.split()[:1] and line.split()[0] in TARGETS]
    schemes = {line.index(" http ") if " http " in line else line.index(" ws ") for line in rows}
    assert len(schemes) == 1
