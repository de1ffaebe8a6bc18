"""README's 'what each choice does' table is docs/results/table.py's composition of the parts, byte for byte."""
import importlib.util

from conftest import ROOT
from plot import README_MARK

spec = importlib.util.spec_from_file_location("results_table", ROOT / "docs" / "results" / "table.py")
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme.count(README_MARK) == 2
    assert readme.split(README_MARK)[1].lstrip("\n") == table.table()
    assert len(readme.splitlines()) <= 200
