"""README's results: 'What we found' and the 'what each choice does' table are docs/results/table.py's composition of
the parts, byte for byte; the table's cells are short and its legend defines every mark it uses."""
from conftest import ROOT, results_script
from plot import README_MARK

table = results_script("table", "results_table")


def between(readme: str, mark: str) -> str:
    assert readme.count(mark) == 2
    return readme.split(mark)[1].lstrip("\n")


def test_the_readme_findings_and_table_are_the_generated_ones():
    readme = (ROOT / "README.md").read_text()
    assert between(readme, README_MARK) == table.table()
    assert between(readme, table.FINDINGS_MARK) == table.found()
    assert readme.index(table.FINDINGS_MARK) < readme.index(README_MARK)  # what was found first, the table after
    # 235, not 200: the results open with an "In short" table and a paragraph per question of the assignment, and a
    # legend (issue 50)
    assert len(readme.splitlines()) <= 235


def test_the_tables_cells_are_short_and_its_legend_defines_each_mark():
    block = table.table().splitlines()
    rows = [line for line in block if line.startswith("| ") and not line.startswith("| choice")]
    cells = [cell.strip() for line in rows for cell in line.strip().strip("|").split(" | ")[1:]]
    assert len(rows) == 8 and max(map(len, cells)) <= 160
    legend = [line for line in block if line.startswith("- ")]
    assert 1 <= len(legend) <= 6
    marks = {mark for cell in cells for mark in "▲▼△▽≈?†" if mark in cell}
    assert marks >= set("▲▼△▽≈?")  # the committed parts use every verdict; † only while a verdict is weak
    assert all(mark in " ".join(legend) for mark in "▲▼△▽≈?†")
    for term in ("pp: percentage points", "negligible", "Margin:"):
        assert term in " ".join(legend)
    assert " pp" not in " ".join(cells)  # sizes are REPORT.md's and the findings'; a cell shows accuracies


def test_every_question_has_its_finding_and_its_link():
    found = table.found()
    for title in ("Activation function", "Number of layers", "Neurons per layer", "Optimizer", "Batch size",
                  "Regularization and augmentation", "Precision (bf16 against fp32)"):
        line = next(line for line in found.splitlines() if line.startswith(f"- **{title}**"))
        assert "[More](docs/results/FINDINGS.md#" in line
    assert "docs/results/overview-mnist.png" in found.splitlines()[0]


def test_the_quick_start_has_each_systems_commands_and_the_cpu_only_build_outside_the_requirements():
    readme = (ROOT / "README.md").read_text()
    start = readme.split("## Quick start")[1].split("\n## ")[0]
    for command in (".venv/bin/pip install -r requirements.txt && .venv/bin/python run.py",
                    ".venv/bin/pip install -r requirements-dev.txt && .venv/bin/python -m pytest -q",  # CI's
                    r"py -m venv .venv; .venv\Scripts\python -m pip install -r requirements.txt; .venv\Scripts\python run.py"):
        assert command in start
    assert "--index-url https://download.pytorch.org/whl/cpu" in start and "NVIDIA libraries" in start
    # the CPU-only build is the reader's choice: no requirements file names another index
    for requirements in ROOT.glob("requirements*.txt"):
        assert "index-url" not in requirements.read_text(), requirements.name


def test_the_readme_and_reliability_say_where_the_suite_has_run():
    readme = (ROOT / "README.md").read_text()
    reliability = (ROOT / "docs" / "reliability.md").read_text().split("## Operating systems")[1].split("\n## ")[0]
    for text in (readme, reliability):
        assert "Linux" in text and "tests/test_windows.py" in text
    assert "Windows and macOS have never run the suite" in reliability
    assert "Windows and macOS: never" in readme
