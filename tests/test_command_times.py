"""docs/results/command_times.py: README's commands table filled from finished runs' own times, never a guess."""
import run
from conftest import results_script

command_times = results_script("command_times", "command_times")

COMMAND = "python run.py --model MLP --epochs 1 --seeds 2 --subset 1000 --jobs 1"
HEADER = "| command | what it compares | runs | MNIST | Fashion-MNIST |\n|---|---|---:|---:|---:|\n"


def readme_with(*rows: str) -> str:
    mark = command_times.MARK
    return f"# a README\n\n{mark}\n{HEADER}{''.join(rows)}{mark}\n\nthe rest\n"


def test_options_in_brackets_and_backticks_are_dropped():
    assert command_times.command_args("`python run.py --study batch_size [--scale-lr]` ") == [
        "run.py", "--study", "batch_size"]


def test_a_row_gets_its_run_count_and_a_time_only_where_every_run_has_a_finished_twin(tmp_path, monkeypatch):
    logroot = tmp_path / "ref"
    assert run.main([*COMMAND.split()[2:], "--device", "cpu", "--logdir", str(logroot / "logs"),
                     "--no-plot", "--quiet"]) == 0
    readme = tmp_path / "README.md"
    readme.write_text(readme_with(f"| `{COMMAND}` | MLP | 0 | 9 min | 9 min |\n",
                                  f"| `{COMMAND} [--scale-lr]` | MLP | 0 | | - |\n"))
    monkeypatch.setattr(command_times, "README", readme)
    assert command_times.main([str(logroot), "--write"]) == 0
    rows = readme.read_text().split(command_times.MARK)[1].strip().splitlines()[2:]
    cells = [[c.strip() for c in row.split("|")[1:-1]] for row in rows]
    # MNIST: both runs finished, so the time is theirs; Fashion-MNIST: none, so the cell keeps what it had (another
    # part's time), or with --reset is blank (not a timed guess); "-" stays
    assert [c[2] for c in cells] == ["2", "2"]
    assert all(c[3].endswith(" s") or c[3].endswith(" min") for c in cells)
    assert [c[4] for c in cells] == ["9 min", "-"]
    assert readme.read_text().endswith(f"{command_times.MARK}\n\nthe rest\n")
    assert command_times.main([str(logroot), "--write", "--reset"]) == 0
    rows = readme.read_text().split(command_times.MARK)[1].strip().splitlines()[2:]
    assert [[c.strip() for c in row.split("|")[1:-1]][4] for row in rows] == ["", "-"]


def test_a_readme_without_the_marks_or_a_bad_command_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    (tmp_path / "logs").mkdir()
    readme = tmp_path / "README.md"
    monkeypatch.setattr(command_times, "README", readme)
    readme.write_text("# no table\n")
    assert command_times.main([str(tmp_path)]) == 1
    readme.write_text(readme_with("| `python run.py --study nosuch` | x | 0 | | |\n"))
    assert command_times.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not two" in err[0] and "nosuch" in err[1]
