"""The example notebooks (docs/notebooks) run top to bottom against the sample warehouse in a real
Jupyter kernel: no cell errors, every table they show has rows, and each draws its chart."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.xdist_group("sample_warehouse")  # the warehouse is built once, in one worker
REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "docs" / "notebooks").glob("*.ipynb"))


def execute(path: Path, parameters: str | None = None):
    notebook = nbformat.read(path, as_version=4)
    if parameters is not None:
        notebook.cells[1].source = parameters  # the parameters cell
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    return notebook


def test_both_example_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["firewall_baseline_of_a_device.ipynb", "rule_noise_and_exclusions.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors_and_draws_its_chart(sample_warehouse, monkeypatch, path):
    monkeypatch.setenv("HUNTHOUSE_CONFIG", sample_warehouse.source_path)
    notebook = execute(path)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    results = [o for o in outputs if o.output_type == "execute_result"]
    charts = [o for o in results if "vega" in str(o.data.get("text/html", "")) or
              any("vega" in kind for kind in o.data)]
    assert len(charts) == 1, [list(o.data) for o in results]
    frames = [o.data["text/plain"] for o in results if o.data.get("text/plain", "").startswith("shape: (")]
    assert frames and all(not f.startswith("shape: (0,") for f in frames), frames


def test_a_rule_that_does_not_exist_fails_the_notebook_with_its_name(sample_warehouse, monkeypatch):
    monkeypatch.setenv("HUNTHOUSE_CONFIG", sample_warehouse.source_path)
    with pytest.raises(CellExecutionError, match="no rule 'no-such-rule' in rule_noise"):
        execute(REPO / "docs" / "notebooks" / "rule_noise_and_exclusions.ipynb", 'TENANT = None\nRULE_ID = "no-such-rule"')
