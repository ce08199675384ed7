"""The OpenWrt packages end to end, without a router: `fmipkey package openwrt` builds the
ipk and the apk; the ipk is unpacked into an empty root the way opkg does it and its
postinst runs with IPKG_INSTROOT; the installed init script's start_service runs with
procd's helpers replaced by a recorder and config_load/config_get reading the installed
UCI file; then exactly the recorded command line runs in the simulation's AR namespace and
completes CPS/CPA, the key exchange and an FBU with an MN.

"The installed root's files only": commands run in a mount namespace where /etc, /usr
and /var are overlays whose upper layer is the installed root. Under it lie the host's
directories and one file standing in for the router's own micropython-mbedtls package:
/usr/bin/micropython, a script that execs the unix port in .venv (the router's binary
needs the router). The environment is emptied as procd does, so MicroPython finds
fmipkey only in /usr/lib/micropython of the installed root."""
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from fmipkey import config, keystore
from fmipkey_tools import package

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "boards" / "openwrt" / "Makefile"

from fmipkey_tools import sim as simtool
from fmipkey_tools.cli import main
from fmipkey_tools.sim import MICROPYTHON, Sim, message_name, packets, stop, wait_for

missing = [t for t in ("tshark", "ip", "unshare") if shutil.which(t) is None]
# the installed root is mounted over /etc, /usr and /var in a mount namespace
needs_root = pytest.mark.skipif(os.geteuid() != 0 or bool(missing), reason="needs root and %s (make tools)"
                                % ", ".join(("tshark", "ip", "unshare")))

# procd's and functions.sh's helpers as start_service and service_triggers call them: the
# procd ones record their arguments (one line, \x1f between them), config_load/config_get
# read /etc/config/NAME as OpenWrt's functions.sh does (options; :- default), logger records.
SHIMS = r"""
rec() { { printf '%s' "$1"; shift; for a in "$@"; do printf '\037%s' "$a"; done; printf '\n'; } >> "$RECORD"; }
procd_open_instance() { rec procd_open_instance "$@"; }
procd_set_param() { rec procd_set_param "$@"; }
procd_close_instance() { rec procd_close_instance "$@"; }
procd_add_reload_trigger() { rec procd_add_reload_trigger "$@"; }
procd_add_reload_interface_trigger() { rec procd_add_reload_interface_trigger "$@"; }
logger() { rec logger "$@"; }
config_load() {
	local kw name value section=
	while read -r kw name value; do
		case "$kw" in
		config) eval "section=$value"; [ -n "$section" ] || section="$name" ;;
		option) eval "value=$value"; eval "CONFIG_${section}_${name}=\$value" ;;
		esac
	done < "/etc/config/$1"
}
config_get() { eval "$1=\${CONFIG_$2_$3:-\$4}"; }
config_get_bool() {
	local _v; config_get _v "$2" "$3" "$4"
	case "$_v" in 1|on|true|yes|enabled) eval "$1=1" ;; *) eval "$1=0" ;; esac
}
"""


# ---- the router's view ------------------------------------------------------

class Router:
    """An installed root (`root`), the base system's stand-ins beside it, and commands run
    with /etc, /usr and /var overlaid by it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.root = tmp / "root"
        self.base = tmp / "base"
        self.n = 0
        for d in ("etc", "usr", "var/run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)   # base-files' skeleton
        self.micropython()

    def micropython(self, nossl=False):
        """/usr/bin/micropython of the base system: the unix port, or one without cryptolib
        (as OpenWrt's micropython-nossl) where a cryptolib.py that fails to import comes first."""
        exe = self.base / "usr" / "bin" / "micropython"
        exe.parent.mkdir(parents=True, exist_ok=True)
        path = ""
        if nossl:
            shim = self.base / "usr" / "lib" / "nossl"
            shim.mkdir(parents=True, exist_ok=True)
            (shim / "cryptolib.py").write_text("raise ImportError('no module named cryptolib')\n")
            path = "MICROPYPATH=/usr/lib/nossl:/usr/lib/micropython "
        exe.write_text("#!/bin/sh\n%sexec %s \"$@\"\n" % (path, MICROPYTHON))
        exe.chmod(0o755)

    def wrap(self, argv):
        """argv in a private mount namespace that shows the router, with procd's empty environment."""
        self.n += 1
        work = self.tmp / ("work%d" % self.n)
        mounts = []
        for d, lower in (("etc", "/etc"), ("usr", "%s/usr:/usr" % self.base), ("var", "/var")):
            (work / d).mkdir(parents=True)
            mounts.append("mount -t overlay fmipkey-%s -o lowerdir=%s,upperdir=%s/%s,workdir=%s/%s /%s"
                          % (d, lower, self.root, d, work, d, d))
        script = "set -e; %s; cd /; exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \"$@\"" % "; ".join(mounts)
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + [str(a) for a in argv]

    def run(self, *argv):
        return subprocess.run(self.wrap(argv), capture_output=True, text=True, timeout=60)

    def start_service(self):
        """The installed init script's start_service, then service_triggers; returns
        (exit status of start_service, records [[helper, args...]], stderr)."""
        record = self.tmp / ("record%d" % self.n)
        shims = self.tmp / "shims.sh"
        shims.write_text(SHIMS)
        r = self.run("sh", "-c", "RECORD=%s; . %s; . /etc/init.d/fmipkey; start_service; rc=$?; service_triggers; "
                     "exit $rc" % (record, shims))
        lines = record.read_text().splitlines() if record.exists() else []
        return r.returncode, [line.split("\x1f") for line in lines], r.stderr

    def files(self):
        """{path: (bytes, mode)} of every file in the installed root: to show nothing changed."""
        return {str(p.relative_to(self.root)): (p.read_bytes(), p.stat().st_mode) for p in self.root.rglob("*")
                if p.is_file()}

    def uci(self, **options):
        """Set options in the installed /etc/config/fmipkey (what `uci set ...; uci commit` does)."""
        path = self.root / "etc" / "config" / "fmipkey"
        text = path.read_text()
        for k, v in options.items():
            line = "\toption %s '%s'" % (k, v)
            text, n = re.subn(r"(?m)^\toption %s .*$" % k, line, text)
            if not n:
                text = text.replace("config fmipkey 'main'\n", "config fmipkey 'main'\n%s\n" % line)
        path.write_text(text)


def opkg_install(ipk, root):
    """What opkg does with an ipk for an offline root: the outer gzip'd tar holds debian-binary
    2.0, control.tar.gz (kept in usr/lib/opkg/info/NAME.*) and data.tar.gz (unpacked into
    root, its files listed in NAME.list); then postinst with IPKG_INSTROOT=root."""
    with tarfile.open(ipk, "r:gz") as outer:
        assert sorted(outer.getnames()) == ["./control.tar.gz", "./data.tar.gz", "./debian-binary"]
        read = {m.name[2:]: outer.extractfile(m).read() for m in outer.getmembers()}
    assert read["debian-binary"] == b"2.0\n"
    info = root / "usr" / "lib" / "opkg" / "info"
    info.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(read["control.tar.gz"]), mode="r:gz") as ctl:
        control = {m.name[2:]: (ctl.extractfile(m).read(), m.mode) for m in ctl.getmembers() if m.isfile()}
    for name, (data, mode) in control.items():
        (info / ("fmipkey." + name)).write_bytes(data)
        (info / ("fmipkey." + name)).chmod(mode)
    with tarfile.open(fileobj=io.BytesIO(read["data.tar.gz"]), mode="r:gz") as data:
        names = [m.name[1:] for m in data.getmembers() if not m.isdir()]
        data.extractall(root, filter="tar")
    (info / "fmipkey.list").write_text("".join(n + "\n" for n in names))
    return control, names


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg")
    ipk, apk, files = package.package(out, mtime=1700000000)
    return ipk, apk, files


def test_packages_are_named_and_hold_the_firmware_and_no_secrets(built):
    ipk, apk, files = built
    assert ipk.name == "fmipkey_%s_all.ipk" % package.VERSION and apk.name == "fmipkey-%s.apk" % package.VERSION
    mpy = sorted(p for p in files if p.endswith(".mpy"))
    sources = sorted(p.relative_to(ROOT / "firmware").with_suffix(".mpy").as_posix()
                     for p in (ROOT / "firmware" / "fmipkey").rglob("*.py"))
    assert mpy == ["usr/lib/micropython/" + s for s in sources]
    for p in mpy:   # .mpy v6 from MicroPython 1.23's mpy-cross: 'M', 6, no native code
        assert files[p][0][:3] == b"M\x06\x00", p
    assert set(files) - set(mpy) == {"etc/init.d/fmipkey", "etc/config/fmipkey", "lib/upgrade/keep.d/fmipkey",
                                     "usr/bin/fmipkey"}
    assert files["usr/bin/fmipkey"] == (b"micropython", None)   # a symbolic link
    for data, _ in files.values():
        assert not re.search(rb"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----\r?\n[A-Za-z0-9+/]", data)


def test_cli_writes_both_packages(tmp_path):
    r = CliRunner().invoke(main, ["package", "openwrt", "--out", str(tmp_path)], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fmipkey-%s.apk" % package.VERSION,
                                                          "fmipkey_%s_all.ipk" % package.VERSION]
    assert "wrote %s (opkg install)" % (tmp_path / ("fmipkey_%s_all.ipk" % package.VERSION)) in r.output


def test_sdk_makefile_builds_the_same_version_and_files(built):
    text = MAKEFILE.read_text()
    version = re.search(r"(?m)^PKG_VERSION:=(\S+)", text).group(1)
    release = re.search(r"(?m)^PKG_RELEASE:=(\S+)", text).group(1)
    assert "%s-r%s" % (version, release) == package.VERSION
    assert "DEPENDS:=+%s" % package.DEPENDS in text
    for path, (name, _) in package.BOARD_FILES.items():
        assert "files/%s $(1)/%s" % (name, path) in text, path
    assert "$(LN) micropython $(1)/usr/bin/fmipkey" in text
    assert "$(file <$(HERE)/files/postinst)" in text and "$(file <$(HERE)/files/prerm)" in text
    assert "/etc/config/fmipkey" in text.split("define Package/fmipkey/conffiles")[1].split("endef")[0]


def gzip_members(blob):
    out = []
    while blob:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out.append((blob, d.decompress(blob)))
        blob = d.unused_data
        out[-1] = (out[-1][0][:len(out[-1][0]) - len(blob)], out[-1][1])
    return out


def test_apk_is_a_v2_package(built):
    ipk, apk, files = built
    (ctl_gz, ctl), (data_gz, data) = gzip_members(apk.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(ctl + bytes(1024))) as t:
        control = {m.name: t.extractfile(m).read() for m in t.getmembers()}
        last = t.getmembers()[-1]
    # cut: the control segment ends with its last file's data, no end-of-archive blocks
    assert len(ctl) == last.offset_data + -(-last.size // 512) * 512
    assert sorted(control) == [".PKGINFO", ".post-install", ".pre-deinstall"]
    info = dict(line.split(" = ", 1) for line in control[".PKGINFO"].decode().splitlines() if " = " in line)
    assert info["pkgname"] == "fmipkey" and info["pkgver"] == package.VERSION and info["arch"] == "noarch"
    assert info["depend"] == "micropython-mbedtls"
    assert info["datahash"] == hashlib.sha256(data_gz).hexdigest()
    assert control[".post-install"] == (package.FILES / "postinst").read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        members = {m.name: m for m in t.getmembers() if not m.isdir()}
        got = {n: t.extractfile(m).read() if m.isfile() else m.linkname.encode() for n, m in members.items()}
    for name, m in members.items():
        assert m.pax_headers["APK-TOOLS.checksum.SHA1"] == hashlib.sha1(got[name]).hexdigest()
    lists = "lib/apk/packages/fmipkey."
    for path, (content, mode) in files.items():
        assert got[path] == content
        assert members[path].issym() if mode is None else members[path].mode == mode
    assert got[lists + "conffiles"] == b"/etc/config/fmipkey\n"
    assert got[lists + "conffiles_static"].decode().split() == [
        "/etc/config/fmipkey", hashlib.sha256(files["etc/config/fmipkey"][0]).hexdigest()]
    assert set(got[lists + "list"].decode().split()) == {"/" + n for n in got}


def test_opkg_install_into_an_empty_root_and_postinst_with_ipkg_instroot(built, tmp_path):
    ipk, _, files = built
    root = tmp_path / "root"
    root.mkdir()
    control, names = opkg_install(ipk, root)
    fields = dict(l.split(": ", 1) for l in control["control"][0].decode().splitlines())
    assert fields["Package"] == "fmipkey" and fields["Depends"] == "micropython-mbedtls"
    assert fields["Architecture"] == "all" and fields["Version"] == package.VERSION
    assert control["conffiles"][0] == b"/etc/config/fmipkey\n"
    assert sorted(n[1:] for n in names) == sorted(files)
    assert (root / "etc/init.d/fmipkey").stat().st_mode & 0o777 == 0o755
    assert (root / "etc/config/fmipkey").stat().st_mode & 0o777 == 0o600
    assert os.readlink(root / "usr/bin/fmipkey") == "micropython"   # the router's micropython-mbedtls
    # postinst as opkg runs it offline: anything it tried to run would be recorded here
    calls = tmp_path / "calls"
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for tool in ("service", "ubus", "logger", "micropython", "procd", "start-stop-daemon", "uci"):
        (stubs / tool).write_text("#!/bin/sh\necho %s \"$@\" >> %s\n" % (tool, calls))
        (stubs / tool).chmod(0o755)
    before = {p for p in Path("/etc").rglob("*fmipkey*")}
    r = subprocess.run(["sh", str(root / "usr/lib/opkg/info/fmipkey.postinst")], capture_output=True, text=True,
                       env={"PATH": "%s:/usr/bin:/bin" % stubs, "IPKG_INSTROOT": str(root), "PKG_ROOT": str(root)})
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    assert not calls.exists(), calls.read_text()
    assert {p for p in Path("/etc").rglob("*fmipkey*")} == before            # nothing outside the root
    assert os.readlink(root / "etc/rc.d/S95fmipkey") == "../init.d/fmipkey"
    assert os.readlink(root / "etc/rc.d/K10fmipkey") == "../init.d/fmipkey"
    init = (root / "etc/init.d/fmipkey").read_text()
    assert "START=95" in init and "STOP=10" in init                         # the links' numbers
    assert (root / "etc/fmipkey").stat().st_mode & 0o777 == 0o700
    # prerm offline: the links go, nothing is stopped
    r = subprocess.run(["sh", str(root / "usr/lib/opkg/info/fmipkey.prerm")], capture_output=True, text=True,
                       env={"PATH": "%s:/usr/bin:/bin" % stubs, "IPKG_INSTROOT": str(root)})
    assert r.returncode == 0 and not calls.exists()
    assert not (root / "etc/rc.d/S95fmipkey").exists() and not (root / "etc/rc.d/K10fmipkey").exists()


def install_bundle(router, bundle):
    """README: OpenWrt, "The bundle": its two commands, with the ssh hop left out."""
    dest, key = router.root / "etc" / "fmipkey", router.root / "etc" / "fmipkey-device.key"
    dest.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(["sh", "-c", "tar -C %s --exclude device.key -cf - . | (umask 077; tar -C %s -xf -)" % (bundle, dest)],
                   check=True)
    with open(bundle / "device.key", "rb") as f:
        subprocess.run(["sh", "-c", "umask 077; cat > %s" % key], stdin=f, check=True)


def param(records, name):
    return [r[2:] for r in records if r[:2] == ["procd_set_param", name]]


@needs_root
def test_installed_service_runs_the_ar_to_a_handover(built, tmp_path):
    ipk, _, _ = built
    router = Router(tmp_path)
    opkg_install(ipk, router.root)
    r = subprocess.run(["sh", str(router.root / "usr/lib/opkg/info/fmipkey.postinst")], capture_output=True,
                       text=True, env={"PATH": "/usr/bin:/bin", "IPKG_INSTROOT": str(router.root)})
    assert r.returncode == 0, r.stderr
    where = router.run("/usr/bin/micropython", "-c", "import fmipkey.main; print(fmipkey.main.__file__)")
    assert where.stdout.strip() == "/usr/lib/micropython/fmipkey/main.mpy", where.stdout + where.stderr

    # as shipped: disabled, so start_service starts nothing and says why
    rc, records, err = router.start_service()
    assert rc == 0 and not param(records, "command") and "fmipkey.main.enabled=1" in err, (records, err)

    with Sim(tmp_path / "sim") as sim:
        install_bundle(router, sim.out / "ar")
        router.uci(enabled="1", interface="br0")   # the sim's AR link is the bridge br0
        for secret in ("etc/fmipkey/key.pem", "etc/fmipkey-device.key"):
            assert (router.root / secret).stat().st_mode & 0o777 == 0o600, secret
        before = router.files()
        rc, records, err = router.start_service()
        assert rc == 0, err
        assert router.files() == before           # its --check wrote nothing
        names = [r[0] for r in records]
        assert names[:1] == ["procd_open_instance"] and "procd_close_instance" in names, records
        (command,) = param(records, "command")
        assert command == ["/usr/bin/fmipkey", "-m", "fmipkey.main", "--uci", "/etc/config/fmipkey"]
        assert param(records, "respawn") == [[]] and param(records, "stdout") == [["1"]]
        assert param(records, "stderr") == [["1"]]
        assert param(records, "file") == [["/etc/config/fmipkey", "/etc/fmipkey/config.json"]]
        assert ["procd_add_reload_trigger", "fmipkey"] in records
        assert ["procd_add_reload_interface_trigger", "lan"] in records

        tshark = sim.capture()
        log = tmp_path / "ar.log"
        with open(log, "w") as f:
            ar = sim.link.spawn("ar", router.wrap(command), f)
        wait_for(lambda: " start " in log.read_text() or ar.poll() is not None, 20, "the installed AR to start")
        mn = sim.daemon("mn", *sim.mn_args("mn"))
        status = mn.wait(30)
        sim.await_fbacks(1)
        stop(ar)
        stop(tshark)
        ar_log, mn_log = log.read_text(), (sim.out / "mn" / "daemon.log").read_text()
        assert status == 0, ar_log + mn_log
        records = simtool.checked(sim)

    assert re.search(r" ar start ar on br0, CGA fe80:\S+, modexp software \(pow\)", ar_log), ar_log
    assert " warning " not in ar_log and " error " not in ar_log, ar_log   # device.key 0600, nothing failed
    names = [message_name(p) for p in packets(sim.out / "exchange.pcap")]
    for m in ("CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack"):
        assert m in names, names
    assert not [r for r in records.values() if r["verdict"] == "failed"], records
    # the key the MN holds is the one the AR sealed in the installed root's key store
    mn_key = json.loads((sim.out / "mn" / "hk.json").read_text())[0]
    ks = keystore.KeyStore((router.root / "etc/fmipkey-device.key").read_bytes(), 256, 43200)
    ks.load(str(router.root / "etc/fmipkey/keystore.bin"), time.time())
    assert ks.get(config.parse_addr(mn_key["cga"]), time.time())[0].hex() == mn_key["key"]
    counters = json.loads((router.root / "var/run/fmipkey.counters.json").read_text())
    assert counters["keys.issued"] == 1 and counters["fbu.accepted"] == 1
    print("PASS: installed ipk, recorded command, CPS/CPA, key exchange and FBU")


@pytest.fixture(scope="module")
def ar_bundle(tmp_path_factory):
    """An AR bundle as the simulation provisions it (no namespaces needed)."""
    out = tmp_path_factory.mktemp("bundles")
    simtool.make_bundles(out, 1024, 1, 0, 1, {"ar": "br-lan", "mn": "eth0"})
    return out / "ar"


@needs_root
@pytest.mark.parametrize("case", ["uci typo", "missing bundle", "no cryptolib"])
def test_a_bad_setup_is_one_log_line_and_nothing_started(built, ar_bundle, tmp_path, case):
    ipk, _, _ = built
    router = Router(tmp_path)
    opkg_install(ipk, router.root)
    install_bundle(router, ar_bundle)
    router.uci(enabled="1")
    (router.root / "etc/fmipkey/keystore.bin").write_bytes(b"an earlier key store")
    if case == "uci typo":
        router.uci(hk_lifetme="3600")
        want = ("fmipkey: /etc/config/fmipkey: unknown config key 'hk_lifetme' (did you mean 'hk_lifetime'?); "
                "known keys: ")
    elif case == "missing bundle":
        router.uci(bundle="/etc/fmipkey-ar1")
        want = "fmipkey: bundle /etc/fmipkey-ar1: no config.json there; copy there the bundle fmipkey provision wrote"
    else:
        router.micropython(nossl=True)
        want = ("fmipkey: this MicroPython has no cryptolib.aes (OpenWrt's micropython-nossl): install "
                "micropython-mbedtls")
    before = router.files()
    rc, records, err = router.start_service()
    logged = [r for r in records if r[0] == "logger"]
    assert rc == 1 and len(logged) == 1, (records, err)
    assert logged[0][:4] == ["logger", "-t", "fmipkey", "-p"] and logged[0][5].startswith(want), logged
    assert "\n" not in logged[0][5] and err.strip() == logged[0][5]
    assert not [r for r in records if r[0].startswith("procd_") and "trigger" not in r[0]], records
    assert router.files() == before
