"""README's 'what each choice does' table is docs/results/table.py's composition of the parts, byte for byte."""
from conftest import ROOT, results_script
from plot import README_MARK

table = results_script("table", "results_table")


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme.count(README_MARK) == 2
    assert readme.split(README_MARK)[1].lstrip("\n") == table.table()
    # 220, not 200: the results open with a paragraph per question of the assignment and a legend (issue 50)
    assert len(readme.splitlines()) <= 220
