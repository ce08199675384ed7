"""build -> flash -> console against a virtual board: the MicroPython unix port on
a socat pty, driven by the real mpremote transport; its working dir is the flash."""
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import cli
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from fmipkey.crypto import cga
from fmipkey_tools import board, build, flash
from fmipkey_tools.cga import spki_of
from fmipkey_tools.cli import main

FW_DATA = Path(__file__).resolve().parent / "fw" / "data"


@pytest.fixture(scope="module")
def fw(tmp_path_factory):
    out = tmp_path_factory.mktemp("fw")
    build.build(out)
    return out


# cert_router.der holds 2001:db8:1234::/48 and 2001:db8:2000::/40; an AR's CGA is link-local
CONFIG = {"role": "ar", "interface": "br-lan", "cga_sec": 0, "prefix": "2001:db8:1234::/64"}
LL = bytes.fromhex("fe80000000000000")


@pytest.fixture
def bundle(tmp_path):
    """An AR bundle that loads (console save checks it): key, a Sec 0 CGA of it, a certificate."""
    b = tmp_path / "bundle"
    (b / "certs").mkdir(parents=True)
    (b / "config.json").write_text(json.dumps(CONFIG))
    pem = (FW_DATA / "rsa1024_a.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    (b / "key.pem").write_bytes(pem)
    (b / "cga.der").write_bytes(cga.encode(bytes(16), LL, 0, spki_of(key)))
    (b / "certs.pem").write_bytes(x509.load_der_x509_certificate((FW_DATA / "cert_router.der").read_bytes())
                                  .public_bytes(serialization.Encoding.PEM))
    (b / "certs" / "router.der").write_bytes(bytes(range(256)) * 9)  # spans several write chunks
    (b / "device.key").write_bytes(bytes(range(32)))
    return b


def mn_bundle(b, key_file="key.pem"):
    """An MN bundle that loads: key, its Sec 0 CGA, an anchor, a handover key encryption key."""
    b.mkdir(parents=True)
    (b / "config.json").write_text(json.dumps({"role": "mn", "interface": "wlan0", "cga_sec": 0,
                                               "key_file": key_file}))
    pem = (FW_DATA / "rsa1024_b.pem").read_bytes()
    (b / key_file).write_bytes(pem)
    (b / "cga.der").write_bytes(cga.encode(bytes(16), bytes(8), 0, spki_of(serialization.load_pem_private_key(
        pem, None))))
    (b / "anchors.pem").write_bytes(x509.load_der_x509_certificate((FW_DATA / "cert_root.der").read_bytes())
                                    .public_bytes(serialization.Encoding.PEM))
    (b / "hkepk.pem").write_bytes((FW_DATA / "rsa1024_a.pem").read_bytes())
    return b


def flash_tree(dev):
    """{path: (bytes, mode)} of everything on a virtual board's flash."""
    return {str(p.relative_to(dev)): (p.read_bytes(), os.stat(p).st_mode & 0o777)
            for p in sorted(dev.rglob("*")) if p.is_file()}


def summary(written, added, updated, unchanged, removed):
    return ("%d written (%d added, %d updated) and verified by SHA-256 on the board, %d unchanged (SHA-256 on the "
            "board matched), %d removed" % (written, added, updated, unchanged, removed))


def test_flash_copies_verifies_and_skips_unchanged(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 0, r.output
        files = flash.local_files(fw, bundle)
        assert "config.json" in files and "fmipkey/config.mpy" in files
        for name, local in files.items():
            assert hashlib.sha256((dev / name).read_bytes()).digest() == hashlib.sha256(local.read_bytes()).digest()
        assert summary(len(files), len(files), 0, 0, 0) in r.output

        (bundle / "config.json").write_text(json.dumps(dict(CONFIG, interface="eth1")))
        (dev / "fmipkey" / "stale.py").write_text("raise ImportError\n")
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 0, r.output
        assert summary(1, 0, 1, len(files) - 1, 1) in r.output
        assert "fmipkey/config.mpy" not in r.output  # unchanged files are counted, not listed
        assert "fmipkey/config.mpy" in cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle, "-v").output
        assert json.loads((dev / "config.json").read_text())["interface"] == "eth1"
        assert not (dev / "fmipkey" / "stale.py").exists()

        # The flashed .mpy is what the board imports, from its flash (its working dir).
        with board.connect(tty) as t:
            out = board.run(t, "import os, fmipkey.config\nprint(os.getcwd(), fmipkey.config.__file__)")
            assert out.split() == [str(dev.resolve()), "fmipkey/config.mpy"]


def test_flash_reports_and_prunes_what_an_earlier_bundle_left(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    # the AR's bundle names its certificates file itself: the next bundle's config cannot tell it
    (bundle / "certs.pem").rename(bundle / "chain.pem")
    (bundle / "config.json").write_text(json.dumps(dict(CONFIG, certs_file="chain.pem")))
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        (dev / "keystore.bin").write_bytes(b"daemon state")  # the daemon's, never a bundle's
        # The next bundle has no certs/ folder and names its key and certificates file differently.
        b2 = tmp_path / "b2"
        b2.mkdir()
        for name in ("cga.der", "device.key"):
            (b2 / name).write_bytes((bundle / name).read_bytes())
        (b2 / "k2.pem").write_bytes((bundle / "key.pem").read_bytes())
        (b2 / "certs.pem").write_bytes((bundle / "chain.pem").read_bytes())
        (b2 / "config.json").write_text(json.dumps(dict(CONFIG, key_file="k2.pem")))
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", b2)
        assert r.exit_code == 0, r.output
        assert ("left on the board from an earlier bundle: certs/router.der, chain.pem, key.pem "
                "(flash again with --prune") in r.output
        assert (dev / "chain.pem").exists() and (dev / "key.pem").exists()

        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", b2, "--prune")
        assert r.exit_code == 0, r.output
        assert "0 written (0 added, 0 updated)" in r.output and "3 removed" in r.output and "left on" not in r.output
        assert not (dev / "chain.pem").exists() and not (dev / "key.pem").exists()
        assert not (dev / "certs" / "router.der").exists()
        assert (dev / "keystore.bin").exists()  # the daemon's state, never a bundle's file
        assert (dev / "k2.pem").read_bytes() == (bundle / "key.pem").read_bytes()

    r = cli("flash", "--port", "/dev/null", "--prune")
    assert r.exit_code == 2 and "--prune removes what an earlier bundle left: give the new one with --bundle" in r.output


def test_flash_refuses_a_ca_folder_and_keys_the_config_does_not_name(fw, bundle, tmp_path):
    from fmipkey_tools.pki import cli as pki_cli
    ca = tmp_path / "ca"
    assert CliRunner().invoke(pki_cli, ["init", "--out", str(ca), "--prefix", "2001:db8::/32", "--bits", "1024"]
                              ).exit_code == 0
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        before = flash_tree(dev)
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", ca)
        assert r.exit_code == 1, r.output
        assert ("%s is not a device bundle: it has no config.json (found ca-cert.pem, ca-key.pem (a private key)). "
                "Give a folder written by fmipkey provision; a CA folder (ca-key.pem) must never be flashed" % ca
                ) in " ".join(r.output.split())
        # a CA key copied into a good bundle
        (bundle / "ca-key.pem").write_bytes((ca / "ca-key.pem").read_bytes())
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 1
        assert ("%s holds private keys that its config.json does not name (key.pem): ca-key.pem. A CA key or a "
                "stray key must never reach a board; remove it from the bundle" % bundle) in " ".join(r.output.split())
        (bundle / "ca-key.pem").unlink()
        # the CA's key as the device's own key, beside the CA's certificate
        ca_key = serialization.load_pem_private_key((ca / "ca-key.pem").read_bytes(), None)
        (bundle / "key.pem").write_bytes((ca / "ca-key.pem").read_bytes())
        (bundle / "cga.der").write_bytes(cga.encode(bytes(16), bytes(8), 0, spki_of(ca_key)))
        (bundle / "certs.pem").write_bytes((ca / "ca-cert.pem").read_bytes())
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 1
        assert ("%s/key.pem holds the private key of the CA certificate CN=fmipkey SEND trust anchor (in certs.pem); "
                "a CA key must never reach a board" % bundle) in " ".join(r.output.split()), r.output
        assert flash_tree(dev) == before


def test_flash_asks_before_changing_the_board_role(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    mn = mn_bundle(tmp_path / "mn")
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        before = flash_tree(dev)
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", mn)
        assert r.exit_code == 1, r.output
        assert ("the board on %s is an AR and this bundle makes it an MN: nothing was written. Flash again with "
                "--role-change to switch it; that removes what the AR bundle brought and the new one lacks: "
                "certs.pem, certs/router.der, device.key" % tty) in " ".join(r.output.split()), r.output
        assert flash_tree(dev) == before
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", mn, "--role-change")
        assert r.exit_code == 0, r.output
        assert "3 removed" in r.output
        assert json.loads((dev / "config.json").read_text())["role"] == "mn"
        assert not (dev / "certs.pem").exists() and not (dev / "device.key").exists()
        assert (dev / "key.pem").read_bytes() == (mn / "key.pem").read_bytes()


def test_private_files_are_0600_on_a_board_with_modes(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    old = os.umask(0o022)  # the board inherits it: files it opens are 0644 unless made private
    try:
        with board.virtual_board(dev) as tty:
            assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
            mn = mn_bundle(tmp_path / "mn")
            assert cli("flash", "--port", tty, "--fw", fw, "--bundle", mn, "--role-change").exit_code == 0
    finally:
        os.umask(old)
    modes = {n: m for n, (_, m) in flash_tree(dev).items()}
    assert modes["key.pem"] == modes["hkepk.pem"] == 0o600
    assert modes["cga.der"] == modes["anchors.pem"] == modes["config.json"] == 0o644
    (tmp_path / "flash2").mkdir()
    with board.virtual_board(tmp_path / "flash2") as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
    assert os.stat(tmp_path / "flash2" / "device.key").st_mode & 0o777 == 0o600


def test_flash_fw_must_exist(bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("flash", "--port", "/dev/null", "--fw", "nope", "--bundle", bundle)
    assert r.exit_code == 2, r.output
    assert "--fw nope does not exist; give the folder fmipkey build --out wrote, or leave --fw out to build into " \
           "build/fw" in r.output
    assert not (tmp_path / "nope").exists() and not (tmp_path / "build").exists()


def test_help_short_option_and_version():
    # the installed command, as a user runs it (click caches a command's help option per process)
    import importlib.metadata
    exe = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "fmipkey")
    for args in (["-h"], ["flash", "-h"], ["console", "status", "-h"], ["pki", "router", "-h"], ["board", "virtual", "-h"]):
        r = subprocess.run([exe] + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.startswith("Usage: fmipkey " + " ".join(args[:-1])), (args, r)
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "fmipkey, version %s\n" % importlib.metadata.version("fmipkey-tools")


def test_board_virtual_command_serves_flash_and_console(fw, bundle, tmp_path):
    exe = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "fmipkey"
    dev = tmp_path / "flash"
    p = subprocess.Popen([str(exe), "board", "virtual", "--flash", str(dev)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        tty = p.stdout.readline().strip()
        assert os.path.exists(tty), p.stderr.read()
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 0, r.output
        assert (dev / "config.json").read_bytes() == (bundle / "config.json").read_bytes()
        status = json.loads(cli("console", "--port", tty, "status", "--json").output)
        assert status["role"] == "ar" and status["interface"] == "br-lan"
        pids = subprocess.run(["pgrep", "-f", tty], capture_output=True, text=True).stdout.split()
        assert pids
    finally:
        p.terminate()
        p.wait(10)
    assert not os.path.exists(tty)
    for pid in pids:  # socat and micropython ended with it
        assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0


def test_flash_detects_corruption_on_board(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        (dev / "certs" / "router.der").write_bytes(b"flipped")  # flash went bad behind our back
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 0 and "1 updated" in r.output
        assert (dev / "certs" / "router.der").read_bytes() == (bundle / "certs" / "router.der").read_bytes()


def test_console_set_save_get_status(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        r = cli("console", "--port", tty, "set", "at", "1")
        assert r.exit_code == 0 and "staged" in r.output, r.output
        assert "at" not in json.loads((dev / "config.json").read_text())  # not saved yet
        r = cli("console", "--port", tty, "get", "at", "--json")
        assert json.loads(r.output)["value"] == 1 and json.loads(r.output)["pending"] is True
        r = cli("console", "--port", tty, "save")
        assert r.exit_code == 0 and "at changed" in r.output, r.output
        saved = json.loads((dev / "config.json").read_text())
        assert saved["at"] == 1 and saved["interface"] == "br-lan"
        r = cli("console", "--port", tty, "status", "--json")
        status = json.loads(r.output)
        assert status["at"] == 1 and status["interface"] == "br-lan" and status["pending"] == []
        assert status["platform"] == "linux" and status["mem_free"] > 0
        r = cli("console", "--port", tty, "status")
        assert r.exit_code == 0 and "br-lan" in r.output


def test_console_refuses_invalid_values(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        r = cli("console", "--port", tty, "set", "at", "7")
        assert r.exit_code == 1
        assert "at: 7 is not valid; use one of 0, 1" in r.output
        r = cli("console", "--port", tty, "set", "hk_lifetim", "60")
        assert r.exit_code == 1 and "did you mean 'hk_lifetime'" in r.output
        r = cli("console", "--port", tty, "get", "nope")
        assert r.exit_code == 1 and "unknown config key 'nope'" in r.output
        r = cli("console", "--port", tty, "set", "hk_lifetime", "-5")  # a value, not an option
        assert r.exit_code == 1 and "hk_lifetime: -5 is not valid" in r.output, r.output
        assert not (dev / "config.pending.json").exists()
        assert json.loads((dev / "config.json").read_text()) == CONFIG


def test_console_save_refuses_a_config_the_bundle_cannot_run(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        assert cli("console", "--port", tty, "set", "role", "mn").exit_code == 0  # valid alone
        r = cli("console", "--port", tty, "save")
        assert r.exit_code == 1 and "not saved: the bundle on this board does not load" in r.output, r.output
        assert "anchors.pem: missing" in r.output
        assert json.loads((dev / "config.json").read_text()) == CONFIG


def test_console_counters(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        r = cli("console", "--port", tty, "counters")
        assert r.exit_code == 1 and "counters.json: not written yet" in r.output
        (dev / "counters.json").write_text(json.dumps({"received": 12, "dropped.hoplimit": 2}))
        r = cli("console", "--port", tty, "counters", "--json")
        assert json.loads(r.output) == {"counters": {"received": 12, "dropped.hoplimit": 2}}
        r = cli("console", "--port", tty, "counters")
        assert "dropped.hoplimit" in r.output and "12" in r.output


def test_console_reboot_ends_unix_board(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        r = cli("console", "--port", tty, "reboot")
        assert r.exit_code == 0 and "rebooting" in r.output
        deadline = time.monotonic() + 5
        while os.path.exists(tty) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(tty)  # micropython exited, so socat ended and removed the pty
        r = cli("console", "--port", tty, "status")
        assert r.exit_code == 1 and "cannot open" in r.output


def test_unreachable_port_is_a_clear_error(tmp_path):
    r = cli("console", "--port", tmp_path / "nothing", "status")
    assert r.exit_code == 1 and "cannot open" in r.output and "Traceback" not in r.output


def test_virtual_board_leaves_no_process(tmp_path):
    with board.virtual_board(tmp_path / "flash") as tty:
        pids = subprocess.run(["pgrep", "-f", tty], capture_output=True, text=True).stdout.split()
        assert pids
    for pid in pids:
        assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0


def test_console_keys_lists_ids_never_key_bytes(fw, bundle, tmp_path):
    from fmipkey import keystore  # KeyStore.entries(now) is what the board's console lists
    device_key = bytes(range(32))
    (bundle / "device.key").write_bytes(device_key)
    now = time.time()
    store = keystore.KeyStore(device_key)
    secrets = {}
    for i, at in ((1, 0), (2, 1)):
        cga = bytes.fromhex("20010db8000100000000000000000000")[:15] + bytes([i])
        secrets[cga] = store.issue(cga, at, int(now))[0]
    dev = tmp_path / "flash"
    dev.mkdir()
    store.save(str(dev / "keystore.bin"))
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        r = cli("console", "--port", tty, "keys", "--json")
        assert r.exit_code == 0, r.output
        listed = json.loads(r.output)["keys"]
        assert sorted((k["cga"], k["at"]) for k in listed) == [("2001:db8:1::1", 0), ("2001:db8:1::2", 1)]
        assert all(43000 < k["remaining"] <= 43200 for k in listed)
        table = cli("console", "--port", tty, "keys").output
        assert "2001:db8:1::2" in table
        for key in secrets.values():
            assert key.hex() not in r.output + table and key.hex()[:8] not in r.output + table


def test_esptool_accepts_our_write_flash_arguments(tmp_path):
    # No ESP32 here: esptool must get past argument parsing and fail only at opening the port.
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(255))
    cmd = flash.esptool_command(str(tmp_path / "ttyUSB9"), image, "0x1000")
    proc = subprocess.run(cmd[:3] + ["--connect-attempts", "1"] + cmd[3:], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Could not open %s" % (tmp_path / "ttyUSB9") in proc.stdout + proc.stderr


def test_console_needs_a_port_but_help_does_not():
    r = CliRunner().invoke(main, ["console", "status"], env={"FMIPKEY_PORT": ""})
    assert r.exit_code == 2 and "missing --port" in r.output
    for sub in ("status", "counters", "keys", "get", "set", "save", "reboot"):
        r = cli("console", sub, "--help")
        assert r.exit_code == 0 and "Usage: main console %s" % sub in r.output


def test_console_set_applies_provisions_checks(fw, bundle, tmp_path):
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        before = flash_tree(dev)
        r = cli("console", "--port", tty, "set", "prefix", "2001:db8:9::/64")
        assert r.exit_code == 1, r.output
        assert ("Error: not staged: link prefix 2001:db8:9::/64 is not inside the router certificate's prefixes "
                "(2001:db8:1234::/48, 2001:db8:2000::/40); use a prefix inside them, or issue a certificate for it "
                "(fmipkey pki router --prefix)") in " ".join(r.output.split()), r.output
        assert flash_tree(dev) == before
        assert cli("console", "--port", tty, "set", "prefix", "2001:db8:1234:5::/64").exit_code == 0


def test_console_status_shows_what_an_admin_checks_first(fw, bundle, tmp_path):
    import ipaddress
    dev = tmp_path / "flash"
    cert = x509.load_der_x509_certificate((FW_DATA / "cert_router.der").read_bytes())
    with board.virtual_board(dev) as tty:
        assert cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle).exit_code == 0
        s = json.loads(cli("console", "--port", tty, "status", "--json").output)
        assert s["role"] == "ar"
        assert s["cga"] == str(ipaddress.IPv6Address(cga.address((bundle / "cga.der").read_bytes(), 0)))
        assert s["certificate_expires"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert s["daemon"] == "not running"
        assert s["keys"] == 0
        assert s["drops"].startswith("unknown: counters.json: not written yet")
        (dev / "counters.json").write_text(json.dumps({"received": 9, "dropped.sig": 2, "dropped.cga": 1}))
        (dev / "daemon.json").write_text(json.dumps({"started": int(time.time())}))  # a daemon beside the REPL
        s = json.loads(cli("console", "--port", tty, "status", "--json").output)
        assert s["drops"] == {"dropped.sig": 2, "dropped.cga": 1}
        assert s["daemon"].startswith("running as another process (since ")
        table = " ".join(cli("console", "--port", tty, "status").output.split())
        assert "dropped.cga 1, dropped.sig 2" in table and "certificate_expires" in table


def test_flash_writes_an_nvs_bundle_key_with_esptool_not_to_the_file_system(fw, bundle, tmp_path, monkeypatch):
    # provision --nvs: config names nvs:device.key, the bundle holds nvs.bin. esptool (recorded
    # here: the virtual board has no ROM bootloader) gets it at the nvs partition's offset; the
    # file copy over the REPL never carries it.
    from fmipkey_tools import nvs
    (bundle / "device.key").unlink()
    (bundle / "config.json").write_text(json.dumps(dict(CONFIG, device_key_file="nvs:device.key")))
    (bundle / "nvs.bin").write_bytes(nvs.image(bytes(range(32))))
    calls = []
    real_run = subprocess.run

    def run(cmd, *a, **kw):
        if "esptool" in cmd:
            calls.append(cmd)
            return subprocess.CompletedProcess(cmd, 0)
        return real_run(cmd, *a, **kw)
    monkeypatch.setattr(flash.subprocess, "run", run)
    monkeypatch.setattr(flash.time, "sleep", lambda s: None)
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
        assert r.exit_code == 0, r.output
    assert calls == [flash.esptool_command(tty, bundle / "nvs.bin", "0x9000")]
    assert "writing %s at 0x9000 with esptool" % (bundle / "nvs.bin") in r.output
    assert (dev / "config.json").exists()
    assert not (dev / "nvs.bin").exists() and not (dev / "device.key").exists()
    (bundle / "nvs.bin").unlink()
    r = cli("flash", "--port", "/dev/null", "--fw", fw, "--bundle", bundle)
    assert r.exit_code == 1 and "nvs.bin missing" in r.output


def test_daemon_log_lines_carry_iso_8601_utc_or_unix_seconds(bundle):
    import datetime
    import re
    exe = str(board.MICROPYTHON)
    env = dict(os.environ, MICROPYPATH=str(Path(__file__).resolve().parent.parent / "firmware"))
    os.chmod(bundle / "device.key", 0o644)  # so the daemon logs a warning line too
    before = time.time()
    iso = subprocess.run([exe, "-m", "fmipkey.main", str(bundle), "--check"], capture_output=True, text=True,
                         env=env, timeout=60)
    unix = subprocess.run([exe, "-m", "fmipkey.main", str(bundle), "--check", "--log-time", "unix"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert iso.returncode == unix.returncode == 0, iso.stderr + unix.stderr
    assert [line.split()[2] for line in iso.stdout.splitlines()] == ["warning", "start"], iso.stdout
    for line in iso.stdout.splitlines():
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ar ", line), line
        stamp = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
        assert before - 1 <= stamp <= time.time() + 1
    for line in unix.stdout.splitlines():
        assert re.match(r"^\d+\.\d{3} ar ", line), line
        assert before - 1 <= float(line.split()[0]) <= time.time() + 1


def test_console_says_what_to_do_when_a_program_holds_the_board(fw, bundle, tmp_path):
    # a program that neither serves the console nor takes Ctrl-C (the unix port's pty is raw)
    dev = tmp_path / "flash"
    with board.virtual_board(dev) as tty:
        with board.connect(tty) as t:
            t.exec_raw_no_follow("import time\nwhile True:\n    time.sleep(0.1)\n")
        r = cli("console", "--port", tty, "status")
        assert r.exit_code == 1, r.output
        assert ("answered neither as a fmipkey daemon serving its console (fmipkey.main --console) nor with a "
                "MicroPython prompt within 5 s: if the daemon is busy, try again; --interrupt stops whatever runs "
                "there to reach the REPL") in " ".join(r.output.split()), r.output
        r = cli("console", "--port", tty, "--interrupt", "status")
        assert r.exit_code == 1 and "gives no MicroPython raw REPL after Ctrl-C: a program there may not take " \
            "Ctrl-C" in " ".join(r.output.split()), r.output
        assert "Traceback" not in r.output
