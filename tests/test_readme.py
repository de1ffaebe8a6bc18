"""README's 'what each choice does' table is plot.py's CHOICES.md of the reference results, byte for byte."""
from conftest import ROOT
from plot import README_MARK


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme.count(README_MARK) == 2
    table = readme.split(README_MARK)[1].lstrip("\n")
    choices = ROOT / "docs" / "results" / "CHOICES.md"
    assert table == (choices.read_text() if choices.exists() else "")
    assert len(readme.splitlines()) <= 200
