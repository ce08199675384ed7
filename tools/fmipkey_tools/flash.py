"""`fmipkey flash`: optionally write a MicroPython image (esptool), then copy the
built firmware and a device bundle to the board over its raw REPL, skipping
files whose SHA-256 computed on the board already matches, and verifying every
file it wrote the same way. A bundle is checked first: only what `provision`
writes goes onto a board (never a CA key, never a key its config does not name),
and a board changes role only when asked to."""
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import click
from mpremote.transport import TransportError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.table import Table

from fmipkey import config, identity
from fmipkey import nvs as fw_nvs
from fmipkey.errors import ConfigError
from fmipkey_tools import board, build, nvs

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


# config keys naming the files a role's bundle must have, and those that may hold private keys
NEEDED = {"ar": ("key_file", "cga_file", "certs_file", "device_key_file"),
          "mn": ("key_file", "cga_file", "anchors_file", "hkepk_file")}
KEY_FILES = {"ar": ("key_file",), "mn": ("key_file", "hkepk_file")}


def _private_keys(data):
    """The private keys a file holds: PEM blocks labelled ... PRIVATE KEY, or the whole file as DER."""
    keys = []
    for block in data.split(b"-----BEGIN ")[1:]:
        label = block.split(b"-----", 1)[0]
        if label.endswith(b"PRIVATE KEY"):
            try:
                keys.append(serialization.load_pem_private_key(b"-----BEGIN " + block, None))
            except (ValueError, TypeError):  # encrypted, or damaged: still a private key
                keys.append(None)
    if not keys and data[:1] == b"\x30":
        try:
            keys.append(serialization.load_der_private_key(data, None))
        except (ValueError, TypeError):
            pass
    return keys


def _ca_certs(data):
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE" in data else []
    except ValueError:
        return []
    out = []
    for c in certs:
        try:
            if c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                out.append(c)
        except x509.ExtensionNotFound:
            pass
    return out


def _in_bundle(name):
    """The bundle file holding what a config file name names: nvs.bin for nvs:KEY (provision --nvs)."""
    return nvs.IMAGE if fw_nvs.name(name) else name


def check_bundle(bundle):
    """The config of a bundle `provision` wrote, else a ClickException saying what was found
    (a CA folder, a key the config does not name, a CA's private key, a file missing)."""
    bundle = Path(bundle)
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    names = {p.relative_to(bundle).as_posix(): p for p in files}
    with_keys = [n for n, p in names.items() if _private_keys(p.read_bytes())]
    if "config.json" not in names:
        raise click.ClickException(
            "%s is not a device bundle: it has no config.json (found %s). Give a folder written by fmipkey "
            "provision; a CA folder (ca-key.pem) must never be flashed"
            % (bundle, ", ".join(n + (" (a private key)" if n in with_keys else "") for n in names) or "nothing"))
    try:
        cfg = config.load(str(bundle / "config.json"))
    except ConfigError as e:
        raise click.ClickException("%s/config.json: %s; write the bundle with fmipkey provision" % (bundle, e.args[0]))
    role = cfg["role"]
    # an absolute name lives on the board apart from the bundle
    missing = [_in_bundle(cfg[k]) for k in NEEDED[role] if cfg[k][:1] != "/" and _in_bundle(cfg[k]) not in names]
    if missing:
        raise click.ClickException("%s is not a complete %s bundle: %s missing; write it with fmipkey provision"
                                   % (bundle, role.upper(), ", ".join(missing)))
    allowed = {cfg[k] for k in KEY_FILES[role]}
    stray = [n for n in with_keys if n not in allowed]
    if stray:
        raise click.ClickException(
            "%s holds private keys that its config.json does not name (%s): %s. A CA key or a stray key must never "
            "reach a board; remove %s from the bundle" % (bundle, ", ".join(sorted(allowed)), ", ".join(stray),
                                                          "it" if len(stray) == 1 else "them"))
    cas = [(n, c) for n, p in names.items() for c in _ca_certs(p.read_bytes())]
    for n in sorted(allowed & set(names)):
        for key in _private_keys(names[n].read_bytes()):
            for cert_file, ca in cas:
                if key is not None and key.public_key().public_numbers() == ca.public_key().public_numbers():
                    raise click.ClickException(
                        "%s/%s holds the private key of the CA certificate %s (in %s); a CA key must never reach a "
                        "board: provision the device with its own key" % (bundle, n, ca.subject.rfc4514_string(),
                                                                          cert_file))
    bad = [n for n in names if "'" in n or "\\" in n]
    if bad:
        raise click.ClickException("%s: rename %s (no quotes or backslashes in bundle file names)"
                                   % (bundle, ", ".join(bad)))
    try:
        identity.load(str(bundle), cfg)  # what the daemon does first
    except ConfigError as e:
        raise click.ClickException("%s does not load: %s" % (bundle, e.args[0]))
    return cfg


def private_names(cfg):
    """Bundle files that are secrets: 0600 on a board whose file system has modes."""
    keys = KEY_FILES[cfg["role"]] + (("device_key_file",) if cfg["role"] == "ar" else ())
    return sorted(cfg[k] for k in keys if cfg[k][:1] != "/" and not fw_nvs.name(cfg[k]))


def local_files(fw, bundle):
    """{board path: local path}: the build's fmipkey/ tree, and the bundle at the board's root."""
    files = {}
    for root in (fw, bundle):
        if root is None:
            continue
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                name = p.relative_to(root).as_posix()
                if root == bundle and name == nvs.IMAGE:
                    continue   # esptool writes it to the NVS partition (cli), never to the file system
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


# On the board: make each file of P private before it is written (a file opened "wb"
# keeps its mode). Only where the file system has modes: the unix port, which has os.system.
PRIVATE_CODE = """
import os
if hasattr(os, 'system'):
    for p in %s:
        os.system("umask 077 && touch -- '%%s' && chmod 600 -- '%%s'" %% (p, p))
"""


def board_role(transport):
    """The role of the bundle on the board, or None when it has no config.json that parses."""
    try:
        cfg = json.loads(transport.fs_readfile("config.json"))
    except (OSError, ValueError):
        return None
    return cfg.get("role", "ar") if isinstance(cfg, dict) else None


def flash(port, files, prune=False, cfg=None, role_change=False):
    """Copy `files` ({board path: local path}) to the board on `port`.

    Returns {board path: "added" | "updated" | "unchanged" | "removed" | "left"}; "removed"
    are files under fmipkey/ that `files` does not have, when it has any (a stale .py would
    shadow its .mpy); "left" are files an earlier bundle brought that this one (the files
    outside fmipkey/) does not have: removed instead when `prune`. cfg: the bundle's
    config (check_bundle): its private files are made 0600 where the board has modes, and
    a bundle of another role than the board's is refused unless `role_change` (which prunes)."""
    wanted = {name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for name, p in files.items()}
    names = sorted(wanted)
    bundle = [n for n in names if not n.startswith(build.PACKAGE + "/")]
    with board.connect(port) as t:
        recorded = board_manifest(t) if bundle else set()
        earlier = recorded - set(names)
        before, present = board_state(t, names + sorted(earlier))
        left = sorted(n for n in earlier if before[n])
        old_role = board_role(t) if cfg else None
        if cfg and old_role and old_role != cfg["role"]:
            if not role_change:
                raise click.ClickException(
                    "the board on %s is an %s and this bundle makes it an %s: nothing was written. Flash again "
                    "with --role-change to switch it; that removes what the %s bundle brought and the new one "
                    "lacks: %s" % (port, old_role.upper(), cfg["role"].upper(), old_role.upper(),
                                   ", ".join(left) or "nothing"))
            prune = True
        result = {n: "unchanged" if before[n] == wanted[n] else "updated" if before[n] else "added" for n in names}
        changed = [n for n in names if result[n] != "unchanged"]
        # Only a flash that carries the firmware owns fmipkey/ and may prune it.
        has_fw = len(bundle) < len(names)
        extra = sorted(p for p in present if has_fw and p not in wanted)
        if prune:
            extra, left = extra + left, []
        dirs = sorted({"/".join(n.split("/")[:i]) for n in changed for i in range(1, n.count("/") + 1)},
                      key=lambda d: d.count("/"))
        board.run(t, "import os\nfor d in %s:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n"
                  "for p in %s:\n os.remove(p)\n" % (json.dumps(dirs), json.dumps(extra)))
        if cfg:
            board.run(t, PRIVATE_CODE % json.dumps(private_names(cfg)))
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


def summary(result):
    """One line: how many files were written and verified, found unchanged, removed."""
    n = {s: list(result.values()).count(s) for s in ("added", "updated", "unchanged", "removed", "left")}
    written = n["added"] + n["updated"]
    return ("%d written (%d added, %d updated) and verified by SHA-256 on the board, %d unchanged (SHA-256 on the "
            "board matched), %d removed" % (written, n["added"], n["updated"], n["unchanged"], n["removed"]))


@click.command("flash")
@click.option("--port", required=True, help="Serial port of the board (/dev/ttyUSB0, or a virtual board's pty).")
@click.option("--firmware", "image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="MicroPython image to write with esptool first (ESP32 boards only).")
@click.option("--offset", default="0x1000", show_default=True,
              help="Flash offset for --firmware: 0x1000 for ESP32, 0x0 for ESP32-S3/C3.")
@click.option("--bundle", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Device bundle written by fmipkey provision, copied to the board's root.")
@click.option("--fw", type=click.Path(file_okay=False, path_type=Path),
              help="Built firmware (fmipkey build --out); default: build/fw, built or rebuilt first when the "
                   "sources are newer.")
@click.option("--prune", is_flag=True,
              help="Remove the files (keys, certificates, CGA) an earlier bundle brought that this one lacks.")
@click.option("--role-change", is_flag=True,
              help="Allow a bundle of another role (AR/MN) than the board's; removes what the old one brought.")
@click.option("-v", "--verbose", is_flag=True, help="List every file, unchanged ones too.")
def cli(port, image, offset, bundle, fw, prune, role_change, verbose):
    """Copy the firmware and a bundle to a MicroPython board; verify each file by SHA-256 on the board."""
    if prune and not bundle:
        raise click.UsageError("--prune removes what an earlier bundle left: give the new one with --bundle")
    if fw is not None and not fw.is_dir():
        raise click.UsageError("--fw %s does not exist; give the folder fmipkey build --out wrote, or leave --fw "
                               "out to build into build/fw" % fw)
    cfg = check_bundle(bundle) if bundle else None
    images = [(image, offset)] if image else []
    if cfg and cfg["role"] == "ar" and fw_nvs.name(cfg["device_key_file"]):
        # provision --nvs: device.key goes to the NVS partition of boards/esp32's partition table
        images.append((bundle / nvs.IMAGE, hex(nvs.partition()[0])))
    for path, at in images:
        click.echo("writing %s at %s with esptool" % (path, at))
        if subprocess.run(esptool_command(port, path, at)).returncode:
            raise click.ClickException("esptool could not write %s: hold BOOT while resetting the board, "
                                       "check --port, then try again" % path)
    if images:
        time.sleep(2)  # the board resets and boots MicroPython before its REPL answers
    if fw is None:
        fw = Path("build/fw")
        if needs_build(fw):
            click.echo("building firmware into %s" % fw)
            build.build(fw)
    elif needs_build(fw):
        click.echo("note: %s is older than the firmware sources; run fmipkey build --out %s" % (fw, fw), err=True)
    files = local_files(fw, bundle)
    result = flash(port, files, prune, cfg, role_change)
    shown = {n: s for n, s in result.items() if verbose or s != "unchanged"}
    if shown:
        Console().print(report_table(shown, files))
    click.echo(summary(result))
    left = sorted(n for n, status in result.items() if status == "left")
    if left:
        click.echo("left on the board from an earlier bundle: %s (flash again with --prune to remove them)"
                   % ", ".join(left))
