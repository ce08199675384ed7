"""`fmipkey flash`: optionally write a MicroPython image (esptool), then copy the
built firmware and a device bundle to the board over its raw REPL, skipping
files whose SHA-256 computed on the board already matches, and verifying every
file it wrote the same way."""
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import click
from mpremote.transport import TransportError
from rich.console import Console
from rich.table import Table

from fmipkey_tools import board, build

# Board side: SHA-256 of each path in P (None when absent), then every file under
# fmipkey/ (to find modules the build no longer has). Reads in small chunks: ESP32 heap.
HASH_CODE = """
def _fk(P):
    import os, hashlib, binascii, json
    def h(p):
        try:
            f = open(p, 'rb')
        except OSError:
            return None
        d = hashlib.sha256()
        b = bytearray(512)
        with f:
            while True:
                n = f.readinto(b)
                if not n:
                    break
                d.update(memoryview(b)[:n])
        return binascii.hexlify(d.digest()).decode()
    def walk(d, out):
        try:
            for e in os.ilistdir(d):
                p = d + '/' + e[0]
                if e[1] & 0x4000:
                    walk(p, out)
                else:
                    out.append(p)
        except OSError:
            pass
        return out
    print(json.dumps([[h(p) for p in P], walk('%s', [])]))
_fk(%%s)
del _fk
""" % build.PACKAGE


def esptool_command(port, image, offset):
    # esptool 5 syntax (write-flash, hyphenated); run from this venv so the pinned esptool is used.
    return [sys.executable, "-m", "esptool", "--port", port, "write-flash", offset, str(image)]


def local_files(fw, bundle):
    """{board path: local path}: the build's fmipkey/ tree, and the bundle at the board's root."""
    files = {}
    for root in (fw, bundle):
        if root is None:
            continue
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                name = p.relative_to(root).as_posix()
                if name in files:
                    raise click.ClickException("%s and %s would both be written to %s on the board: rename one"
                                               % (files[name], p, name))
                files[name] = p
    return files


# On the board: the bundle files the last flash wrote, and those it left there. A new
# bundle (say an AR's turned MN's) may lack some of them, private keys included.
MANIFEST = "bundle-files.json"


def board_manifest(transport):
    """The names MANIFEST lists, or none when the board has no such file that parses."""
    try:
        names = json.loads(transport.fs_readfile(MANIFEST))
    except (OSError, ValueError):  # none yet, or not ours
        return set()
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def needs_build(fw):
    """True when some firmware source has no .mpy in `fw` or is newer than it."""
    for src in build.sources():
        mpy = Path(fw) / src.relative_to(build.FIRMWARE).with_suffix(".mpy")
        if not mpy.exists() or mpy.stat().st_mtime < src.stat().st_mtime:
            return True
    return False


def board_state(transport, paths):
    """(hex SHA-256 or None for each path, files now under fmipkey/ on the board)."""
    hashes, present = board.run_json(transport, HASH_CODE % json.dumps(paths), timeout=120)
    return dict(zip(paths, hashes)), present


def flash(port, files, prune=False):
    """Copy `files` ({board path: local path}) to the board on `port`.

    Returns {board path: "added" | "updated" | "unchanged" | "removed" | "left"}; "removed"
    are files under fmipkey/ that `files` does not have, when it has any (a stale .py would
    shadow its .mpy); "left" are files an earlier bundle brought that this one (the files
    outside fmipkey/) does not have: removed instead when `prune`."""
    wanted = {name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for name, p in files.items()}
    names = sorted(wanted)
    bundle = [n for n in names if not n.startswith(build.PACKAGE + "/")]
    with board.connect(port) as t:
        recorded = board_manifest(t) if bundle else set()
        earlier = recorded - set(names)
        before, present = board_state(t, names + sorted(earlier))
        result = {n: "unchanged" if before[n] == wanted[n] else "updated" if before[n] else "added" for n in names}
        changed = [n for n in names if result[n] != "unchanged"]
        # Only a flash that carries the firmware owns fmipkey/ and may prune it.
        has_fw = len(bundle) < len(names)
        extra = sorted(p for p in present if has_fw and p not in wanted)
        left = sorted(n for n in earlier if before[n])
        if prune:
            extra, left = extra + left, []
        dirs = sorted({"/".join(n.split("/")[:i]) for n in changed for i in range(1, n.count("/") + 1)},
                      key=lambda d: d.count("/"))
        board.run(t, "import os\nfor d in %s:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n"
                  "for p in %s:\n os.remove(p)\n" % (json.dumps(dirs), json.dumps(extra)))
        for name in changed:
            try:
                t.fs_writefile(name, Path(files[name]).read_bytes(), chunk_size=1024)
            except (OSError, TransportError) as e:
                raise click.ClickException("writing %s to the board failed (%s): is its filesystem full "
                                           "or read-only?" % (name, e))
        after, _ = board_state(t, changed)
        bad = [n for n in changed if after[n] != wanted[n]]
        if bad:
            raise click.ClickException("SHA-256 on the board differs from the host for %s: flash again, "
                                       "and check the cable if it persists" % ", ".join(bad))
        if bundle and recorded != set(bundle + left):
            t.fs_writefile(MANIFEST, json.dumps(bundle + left).encode())
    result.update((p, "removed") for p in extra)
    result.update((p, "left") for p in left)
    return result


def report_table(result, files):
    table = Table(title="flashed files")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    table.add_column("status")
    colours = {"added": "green", "updated": "yellow", "unchanged": "dim", "removed": "red", "left": "magenta"}
    for name in sorted(result):
        size = str(Path(files[name]).stat().st_size) if name in files else ""
        table.add_row(name, size, "[%s]%s[/]" % (colours[result[name]], result[name]))
    return table


@click.command("flash")
@click.option("--port", required=True, help="Serial port of the board (/dev/ttyUSB0, or a virtual board's pty).")
@click.option("--firmware", "image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="MicroPython image to write with esptool first (ESP32 boards only).")
@click.option("--offset", default="0x1000", show_default=True,
              help="Flash offset for --firmware: 0x1000 for ESP32, 0x0 for ESP32-S3/C3.")
@click.option("--bundle", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Device bundle (config.json, keys, certificates) copied to the board's root.")
@click.option("--fw", default="build/fw", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Built firmware (fmipkey build); rebuilt first when the sources are newer.")
@click.option("--prune", is_flag=True,
              help="Remove the files (keys, certificates, CGA) an earlier bundle brought that this one lacks.")
def cli(port, image, offset, bundle, fw, prune):
    """Copy the firmware and a bundle to a MicroPython board; verify each file by SHA-256 on the board."""
    if prune and not bundle:
        raise click.UsageError("--prune removes what an earlier bundle left: give the new one with --bundle")
    if image:
        click.echo("writing %s at %s with esptool" % (image, offset))
        if subprocess.run(esptool_command(port, image, offset)).returncode:
            raise click.ClickException("esptool could not write %s: hold BOOT while resetting the board, "
                                       "check --port, then try again" % image)
        time.sleep(2)  # the board resets and boots MicroPython before its REPL answers
    if needs_build(fw):
        click.echo("building firmware into %s" % fw)
        build.build(fw)
    files = local_files(fw, bundle)
    result = flash(port, files, prune)
    Console().print(report_table(result, files))
    counts = dict((s, list(result.values()).count(s)) for s in ("added", "updated", "unchanged", "removed"))
    click.echo("%(added)d added, %(updated)d updated, %(unchanged)d unchanged, %(removed)d removed" % counts)
    left = sorted(n for n, status in result.items() if status == "left")
    if left:
        click.echo("left on the board from an earlier bundle: %s (flash again with --prune to remove them)"
                   % ", ".join(left))
