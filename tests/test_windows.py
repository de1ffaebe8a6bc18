"""Windows paths, exercised by patching the platform (nothing here runs on Windows)."""
import os

import pytest

import executors
import utils


class FakeKernel32:
    """kernel32's three calls over a table of {pid: exit code}; pids outside it fail to open."""

    def __init__(self, processes: dict[int, int], denied: set[int]):
        self.processes, self.denied, self.closed, self.error = processes, denied, [], 0

    def OpenProcess(self, access, inherit, pid):  # noqa: N802 (the Win32 name)
        assert access == 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION: a query, never PROCESS_TERMINATE
        self.error = 5 if pid in self.denied else 87  # ERROR_ACCESS_DENIED: it exists; 87: no such process
        return pid if pid in self.processes else 0

    def GetExitCodeProcess(self, handle, code_ref):  # noqa: N802
        code_ref._obj.value = self.processes[handle]
        return 1

    def CloseHandle(self, handle):  # noqa: N802
        self.closed.append(handle)


@pytest.fixture
def windows(monkeypatch):
    def no_kill(*args):
        raise AssertionError("os.kill on Windows terminates the process it probes")
    monkeypatch.setattr(os, "kill", no_kill)
    monkeypatch.setattr(utils, "ON_WINDOWS", True)  # not os.name: pathlib would then build WindowsPaths
    monkeypatch.setattr(executors, "ON_WINDOWS", True)
    kernel = FakeKernel32({100: 259, 101: 0}, denied={103})  # 259: STILL_ACTIVE; 101 exited; 103 another user's
    monkeypatch.setattr(utils, "_windows_process_alive",
                        lambda pid, real=utils._windows_process_alive: real(pid, kernel, lambda: kernel.error))
    return kernel


def test_a_process_is_probed_without_being_signalled(windows):
    assert utils.process_alive(100) and not utils.process_alive(101) and not utils.process_alive(102)
    assert utils.process_alive(103)  # it exists, though we may not open it
    assert windows.closed == [100, 101]  # every handle opened is closed


def test_stale_temporaries_of_a_dead_writer_are_removed_and_a_live_ones_kept(windows, tmp_path):
    (tmp_path / f"{utils.TEMP_PREFIX}100-result.json.x.tmp").write_text("being written")
    (tmp_path / f"{utils.TEMP_PREFIX}102-result.json.y.tmp").write_text("left by a killed writer")
    assert utils.remove_stale_temps(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == [f"{utils.TEMP_PREFIX}100-result.json.x.tmp"]


def test_the_parent_watch_asks_for_the_parent_process_not_for_getppid(windows, monkeypatch):
    monkeypatch.setattr(os, "getppid", lambda: 102)  # Windows keeps naming a dead parent here
    assert not executors.parent_alive(102)  # the parent is gone although getppid still names it
    monkeypatch.setattr(os, "getppid", lambda: 100)
    assert executors.parent_alive(100)
