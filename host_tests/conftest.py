"""Runs every firmware test twice: under CPython (pytest's own collection) and
under the MicroPython unix port, one pytest item per test function.

Firmware tests live in host_tests/fw/test_*.py, are written in the subset both
interpreters share (plain asserts, no fixtures), and get helpers from fwtest.py.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FW_TESTS = ROOT / "host_tests" / "fw"
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
RUNNER = FW_TESTS / "_mprun.py"
MP_TIMEOUT = 600

for p in (ROOT / "firmware", FW_TESTS):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def pytest_collect_file(parent, file_path):
    if file_path.parent == FW_TESTS and file_path.name.startswith("test_") and file_path.suffix == ".py":
        return MicroPythonFile.from_parent(parent, path=file_path, name=file_path.name + "[micropython]")
    return None


class MicroPythonFailure(Exception):
    pass


class MicroPythonFile(pytest.File):
    _results = None

    def collect(self):
        tree = ast.parse(self.path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                # a node id of its own: select with -k micropython or file.py::test_x[micropython]
                yield MicroPythonItem.from_parent(self, name=node.name + "[micropython]", test_name=node.name)

    def results(self):
        """Run the whole module once under MicroPython; map test name -> (PASS|FAIL|SKIP, text)."""
        if self._results is not None:
            return self._results
        if not MICROPYTHON.exists():
            pytest.fail("no micropython executable at %s: run `make test` to set up .venv" % MICROPYTHON)
        env = dict(os.environ, MICROPYPATH="%s:%s" % (ROOT / "firmware", FW_TESTS))
        proc = subprocess.run([str(MICROPYTHON), str(RUNNER), self.path.stem], cwd=str(FW_TESTS),
                              env=env, capture_output=True, text=True, timeout=MP_TIMEOUT)
        results, current, lines = {}, None, []
        for line in proc.stdout.splitlines():
            if line.startswith("@@"):
                if current:
                    results[current[1]] = (current[0], "\n".join(lines))
                parts = line[2:].split(" ", 1)
                current = parts if len(parts) == 2 else None
                lines = []
            else:
                lines.append(line)
        self._results = results
        self._output = proc.stdout[-4000:] + proc.stderr[-4000:]
        return results


class MicroPythonItem(pytest.Item):
    def __init__(self, *, test_name, **kw):
        super().__init__(**kw)
        self.test_name = test_name  # the function the MicroPython runner reports

    def runtest(self):
        results = self.parent.results()
        if self.test_name not in results:
            raise MicroPythonFailure("did not run under MicroPython; runner output:\n" + self.parent._output)
        status, text = results[self.test_name]
        if status == "SKIP":
            pytest.skip(text)
        if status != "PASS":
            raise MicroPythonFailure(text)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, MicroPythonFailure):
            return "MicroPython: %s" % excinfo.value
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, self.name


@pytest.fixture
def opened(monkeypatch):
    """Records every os.open as (basename, flags, mode) under the default umask 022 (the one
    that left private keys 0644 for a moment before they were created 0600)."""
    calls = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **kw):
        calls.append((os.path.basename(str(path)), flags, mode))
        return real_open(path, flags, mode, *a, **kw)
    monkeypatch.setattr(os, "open", spy)
    old = os.umask(0o022)
    yield calls
    os.umask(old)


def created_private(flags, mode):
    """True for a file opened as fmipkey_tools.private creates one: 0600, new, no symlink followed."""
    return bool(flags & os.O_CREAT and flags & os.O_EXCL and flags & os.O_NOFOLLOW) and mode == 0o600


def cli(*args):
    """The fmipkey CLI run in-process (click's CliRunner) with args as strings, 200 columns wide."""
    from click.testing import CliRunner
    from fmipkey_tools.cli import main
    return CliRunner().invoke(main, [str(a) for a in args], terminal_width=200)
