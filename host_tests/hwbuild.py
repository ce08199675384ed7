"""Builds the fmipkey_hw C cores (boards/esp32/cmodules/fmipkey_hw) and their host
test programs with gcc into build/hw, against Debian's libmbedtls-dev and
liblwip-dev (`make tools` installs them). Each build is bounded in time."""
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HW = ROOT / "boards" / "esp32" / "cmodules" / "fmipkey_hw"
OUT = ROOT / "build" / "hw"
CFLAGS = ["-std=c11", "-D_DEFAULT_SOURCE", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-I%s" % HW]
TIMEOUT = 120


def need(header, package):
    """Skip (saying what to install) when gcc or a Debian -dev package is missing."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: apt-get install gcc")
    if not Path("/usr/include", header).exists():
        pytest.skip("%s is not installed (no /usr/include/%s): make tools installs it" % (package, header))


def gcc(name, sources, args=(), shared=False):
    """Compile sources (paths) into build/hw/<name>; returns its path. A compiler
    error fails the test with gcc's message."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / name
    cmd = ["gcc"] + CFLAGS + (["-shared", "-fPIC"] if shared else []) + ["-o", str(out)] \
        + [str(s) for s in sources] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, "%s\n%s" % (" ".join(cmd), r.stderr)
    return out
