"""Both notebooks execute top to bottom on the committed smoke run (nbclient, real kernel)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from contract.results import load_run
from tests.fixtures import SMOKE_RUN

pytestmark = pytest.mark.slow  # starts servers or runs: not in `make test-fast`

NOTEBOOKS = Path(__file__).resolve().parents[2] / "analysis" / "notebooks"
NAMES = ("transport_comparison.ipynb", "cost_model.ipynb")


async def _execute(path: Path, sockets: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    # IPC, not TCP: the kernel talks to us through socket files, no port opened.
    manager = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(sockets))
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=120,
        resources={"metadata": {"path": str(path.parent)}},
    )
    await client.async_execute(env={**os.environ, "TBENCH_RUN_DIR": str(SMOKE_RUN)})
    return notebook


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, nbformat.NotebookNode]:
    sockets = tmp_path_factory.mktemp("kernels")

    async def both() -> list[nbformat.NotebookNode]:
        runs = (_execute(NOTEBOOKS / name, sockets / name) for name in NAMES)
        return await asyncio.gather(*runs)

    return dict(zip(NAMES, asyncio.run(both()), strict=True))


def _outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def _text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for output in _outputs(notebook):
        parts.append(output.get("text", ""))
        parts.append(str(output.get("data", {}).get("text/plain", "")))
        parts.append(str(output.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_has_a_parameters_cell(name: str):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "RUN_DIR = os.environ.get(" in tagged[0].source


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_errors(executed, name: str):
    errors = [o for o in _outputs(executed[name]) if o.get("output_type") == "error"]
    assert errors == []


def test_comparison_notebook_draws_the_figures_of_the_run(executed):
    notebook = executed["transport_comparison.ipynb"]
    images = [o for o in _outputs(notebook) if "image/png" in o.get("data", {})]
    assert len(images) >= 9  # every figure but the sweep's
    assert "Omitted: no sweep in this run" in _text(notebook)
    assert f"Run **{load_run(SMOKE_RUN).run_id}**" in _text(notebook)


def test_cost_notebook_reproduces_the_talk_and_prices_the_run(executed):
    text = _text(executed["cost_model.ipynb"])
    assert "= 13,385.15 USD" in text
    assert "At other scales, and where serverless becomes dearer: `tbench plan" in text
    assert "10,000 users in rooms of" in text
