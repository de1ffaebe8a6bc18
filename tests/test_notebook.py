"""notebooks/assignment.ipynb: the assignment step by step on the suite's own functions. It is committed without
outputs and runs top to bottom; here on the smallest setting (one question's study, 1 seed, 300 images, one
validation pass an epoch), through nbclient, and any error in any cell fails the test (issue 54)."""
import nbformat
from nbclient import NotebookClient

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "assignment.ipynb"


def test_the_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    source = "\n".join(cell.source for cell in code)
    for study in ("activation", "depth", "width", "optim", "batch_size"):  # every question of the assignment
        assert f'study("{study}")' in source


def test_the_notebook_runs_top_to_bottom_on_the_smallest_setting(tmp_path, monkeypatch):
    for name, value in {"NOTEBOOK_SUBSET": "300", "NOTEBOOK_EPOCHS": "1", "NOTEBOOK_SEEDS": "1", "NOTEBOOK_EVALS": "1",
                        "NOTEBOOK_STUDIES": "batch_size", "NOTEBOOK_WORKDIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on a cell's error
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 3  # the digits, the loss curve, and the batch-size study's figure, inline
    shown = "\n".join(out.get("data", {}).get("text/markdown", "") for out in outputs)
    assert "What the reference runs found" in shown and "bs1024" in shown  # FINDINGS.md's batch-size finding
    assert (tmp_path / "result" / "batch_size_comparisons.csv").is_file()
    skipped = "\n".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "activation: not in NOTEBOOK_STUDIES, skipped" in skipped
