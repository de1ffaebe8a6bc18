"""README.zh-CN.md: its findings and table come from the same generator as README.md's (docs/results/table.py, with
the two languages' words side by side in findings.py), are written by the same command and checked by the same check,
so the Chinese page cannot fall behind the English one (issue 54)."""
import re

from conftest import ROOT, results_script
from plot import README_MARK

check = results_script("check", "results_check")
table = results_script("table", "results_table")
ZH_PAGE = ROOT / "README.zh-CN.md"


def between(text: str, mark: str) -> str:
    assert text.count(mark) == 2
    return text.split(mark)[1].lstrip("\n")


def test_the_chinese_page_is_linked_from_the_top_and_holds_the_generated_blocks():
    assert "中文说明: [README.zh-CN.md](README.zh-CN.md)" in (ROOT / "README.md").read_text().splitlines()[:3]
    page = ZH_PAGE.read_text()
    assert between(page, table.FINDINGS_MARK) == table.found(lang="zh")
    assert between(page, README_MARK) == table.table(lang="zh")
    assert "py -m venv .venv; .venv\\Scripts\\python -m pip install -r requirements.txt" in page
    assert "--index-url https://download.pytorch.org/whl/cpu" in page


def test_the_chinese_table_shows_the_english_tables_cells_and_numbers():
    english, chinese = table.table().splitlines(), table.table(lang="zh").splitlines()
    rows = [line for line in english if line.startswith("| ") and not line.startswith("| choice")]
    rows_zh = [line for line in chinese if line.startswith("| ") and not line.startswith("| 选择")]
    assert len(rows) == len(rows_zh) == 8
    for row, row_zh in zip(rows, rows_zh):
        cells, cells_zh = row.split(" | ")[1:], row_zh.split(" | ")[1:]
        for cell, cell_zh in zip(cells, cells_zh):  # every number and mark, in the same order
            assert re.findall(r"\d+\.\d+|[▲▼△▽≈?†]", cell) == re.findall(r"\d+\.\d+|[▲▼△▽≈?†]", cell_zh)
    assert "not run" not in "\n".join(chinese) and "未运行" in "\n".join(chinese)
    assert "recipe only" not in "\n".join(chinese) and "仅完整配方" in "\n".join(chinese)  # regularization's quick
    assert "against" not in "\n".join(chinese) and "t-test only" not in "\n".join(chinese)
    legend = [line for line in chinese if line.startswith("- ")]
    assert len(legend) == 5 and "±0.5 pp" in legend[3] and "±0.2 pp" in legend[3]  # studies.MARGINS, as in English


def test_each_questions_chinese_finding_has_the_english_numbers():
    english = {line.split("**")[1]: line for line in table.found().splitlines() if line.startswith("- **")}
    chinese = [line for line in table.found(lang="zh").splitlines() if line.startswith("- **")]
    assert len(chinese) == len(english) == 7
    # the largest effect's accuracies and gap, as the English finding words them
    assert "sigmoid 97.34 ± 0.43%,参照 relu 98.76 ± 0.09%(更差 1.42 pp)" in chinese[0]
    assert "97.34 ± 0.43% against relu's 98.76 ± 0.09%" in english["Activation function"]
    assert "[原因与细节(英文)](docs/results/FINDINGS.md#activation-function)" in chinese[0]


def test_one_number_changed_in_the_chinese_page_fails_the_check_naming_the_file(tmp_path, monkeypatch):
    page = ZH_PAGE.read_text()
    assert check.readme_problems() == []
    edited = tmp_path / "README.zh-CN.md"
    edited.write_text(page.replace("sigmoid 97.34 ± 0.43%,参照", "sigmoid 97.43 ± 0.43%,参照", 1))
    monkeypatch.setattr(check, "README_ZH", edited)
    line = next(i for i, text in enumerate(table.found(lang="zh").splitlines()) if "sigmoid 97.34 ± 0.43%,参照" in text)
    problems = check.readme_problems()
    assert len(problems) == 1 and problems[0].startswith(f"README.zh-CN.md, 我们的发现 line {line + 1}: ")
    assert problems[0].endswith("(python docs/results/table.py --write)")
    edited.write_text(page.replace("relu 98.76: gelu 98.91 △", "relu 98.76: gelu 98.19 △", 1))  # a table cell
    assert [p.split(" line ")[0] for p in check.readme_problems()] == ["README.zh-CN.md, table"]


def test_table_write_writes_both_pages(tmp_path, monkeypatch):
    marks = f"{table.FINDINGS_MARK}\nold\n{table.FINDINGS_MARK}\n{README_MARK}\nold\n{README_MARK}\n"
    for name in ("README", "README_ZH"):
        path = tmp_path / f"{name}.md"
        path.write_text(f"# {name}\n{marks}the rest\n")
        monkeypatch.setattr(table, name, path)
    monkeypatch.setattr(table, "FINDINGS", tmp_path / "FINDINGS.md")
    assert table.main(["--write"]) == 0
    for name, lang in (("README", "en"), ("README_ZH", "zh")):
        text = (tmp_path / f"{name}.md").read_text()
        assert between(text, table.FINDINGS_MARK) == table.found(lang=lang)
        assert between(text, README_MARK) == table.table(lang=lang)
        assert text.startswith(f"# {name}\n") and text.endswith("the rest\n")


def test_the_chinese_in_short_table_has_the_english_ones_numbers_and_marks():
    def rows(block: str) -> list[list[str]]:
        return [line.split(" | ")[1:] for line in block.splitlines() if line.startswith("| [")]

    english, chinese = rows(table.found()), rows(table.found(lang="zh"))
    assert len(english) == len(chinese) == 7
    for cells, cells_zh in zip(english, chinese):  # the English row ends with its why, which the Chinese one links
        assert len(cells) == len(cells_zh) + 1
        for cell, cell_zh in zip(cells, cells_zh):
            assert re.findall(r"[+-]?\d+\.\d+|[▲▼△▽≈?†]", cell) == re.findall(r"[+-]?\d+\.\d+|[▲▼△▽≈?†]", cell_zh)
    assert "sigmoid -1.42 pp ▼ (2 个 epoch), -0.26 pp ▼ (收敛后,仅 t 检验)" in chinese[0][0]
