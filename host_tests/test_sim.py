"""The simulated link end to end: AR and MN daemons under MicroPython in network
namespaces, checked from the capture by code that is not ours: tshark dissects
every message, `cryptography` decrypts the Handover Key Reply with the MN's
HKEPK, and Python's `hmac` recomputes the FBU/FBack authenticators."""
import hashlib
import hmac
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from fmipkey import config, keystore
from test_tshark import QUIRK, flatten, mh_checksum

ROOT = Path(__file__).resolve().parent.parent

if os.geteuid() != 0:
    pytest.skip("the simulation needs root to create network namespaces", allow_module_level=True)
if shutil.which("tshark") is None or shutil.which("ip") is None:
    pytest.skip("the simulation needs tshark and iproute2 (make tools)", allow_module_level=True)

from fmipkey_tools.sim import Sim, stop, wait_for  # noqa: E402


def read_pcap(path):
    """Frames of a classic pcap file (either byte order)."""
    data = Path(path).read_bytes()
    e = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    assert struct.unpack(e + "I", data[:4])[0] == 0xA1B2C3D4
    off, frames = 24, []
    while off < len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def dissect(pcap):
    out = subprocess.run(["tshark", "-r", str(pcap), "-n", "-T", "json", "--no-duplicate-keys",
                          "-o", "ip.check_checksum:TRUE"], capture_output=True, text=True, check=True).stdout
    return [flatten(fr["_source"]["layers"], {}) for fr in json.loads(out)]


def name(f):
    if "mip6.mhtype" in f:
        return {"8": "FBU", "9": "FBack"}[f["mip6.mhtype"][0]]
    return {("148",): "CPS", ("149",): "CPA"}.get(tuple(f["icmpv6.type"])) or \
        {"2": "RtSolPr", "3": "PrRtAdv"}[f["icmpv6.fmip6.subtype"][0]]


def mobility_header(packet):
    """(src, dst, MH bytes) of an IPv6 packet carrying a Mobility Header, maybe after Destination Options."""
    nh, off = packet[6], 40
    if nh == 60:
        nh, off = packet[off], off + (packet[off + 1] + 1) * 8
    assert nh == 135
    return packet[8:24], packet[24:40], packet[off:off + (packet[off + 1] + 1) * 8]


def unhex(colons):
    return bytes.fromhex(colons.replace(":", ""))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`fmipkey sim` (what `make demo` runs), RSA-1024 and Sec 1."""
    out = tmp_path_factory.mktemp("sim") / "demo"
    t0 = time.time()
    r = subprocess.run([sys.executable, "-m", "fmipkey_tools.cli", "sim", "--out", str(out), "--bits", "1024",
                        "--sec", "1"], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    took = time.time() - t0
    frames = [f[14:] for f in read_pcap(out / "exchange.pcap")]  # IPv6 packets
    return out, r, took, dissect(out / "exchange.pcap"), frames


def junk_counted(path):
    """The AR's counters file (written every second) shows the injected junk dropped."""
    try:
        c = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return c.get("dropped.hop_limit") == 1 and c.get("dropped.malformed", 0) >= 2


def netns():
    """The host's network namespaces now."""
    return {l.split()[0] for l in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                 text=True).stdout.splitlines() if l.strip()}


def namespaces(output):
    """The namespaces a sim run says it made (other runs on this host make their own)."""
    line = [l for l in output.splitlines() if l.startswith("network namespaces: ")]
    return set(line[0].split()[2:]) if line else set()


def test_sim_passes_quickly(demo):
    out, r, took, _, _ = demo
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith("PASS")
    assert took < 30
    for side in ("ar", "mn"):
        assert (out / side / "hk.json").exists()
    ours = namespaces(r.stdout)
    assert ours and not ours & netns(), "namespaces left behind"


def test_tshark_dissects_every_message(demo):
    _, _, _, frames, packets = demo
    names = [name(f) for f in frames]
    assert names == ["CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack"]
    for f, n, p in zip(frames, names, packets):
        if n in ("FBU", "FBack"):
            assert "_ws.expert.message" not in f, (n, f.get("_ws.expert.message"))
            src, dst, m = mobility_header(p)
            home = f.get("ipv6.opt.mipv6.home_address")
            src = bytes(config.parse_addr(home[0])) if home else src
            assert int(f["mip6.csum"][0], 16) == mh_checksum(src, dst, m)
        else:
            assert f["icmpv6.checksum.status"] == ["1"]
            allowed = [QUIRK] if n in ("RtSolPr", "PrRtAdv") else []
            assert f.get("_ws.expert.message", []) == allowed, (n, f.get("_ws.expert.message"))
            assert f["ipv6.hlim"] == ["255"]
    sol, adv = frames[2], frames[3]
    for f in (sol, adv):
        assert f["icmpv6.opt.type"][-1] == "12"           # RSA Signature last
    assert "27" in sol["icmpv6.opt.type"] and "28" in adv["icmpv6.opt.type"]
    assert adv["ipv6.src"][0].startswith("fe80:")         # rfc5568 6.1.2: PrRtAdv from link-local
    assert frames[5]["mip6.fback.status"] == ["0"]


def test_handover_key_reply_decrypts_to_the_keys_both_sides_stored(demo):
    out, _, _, frames, _ = demo
    sol, adv = frames[2], frames[3]
    pair = serialization.load_pem_private_key((out / "mn" / "hkepk.pem").read_bytes(), None)
    spki = pair.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert unhex(sol["icmpv6.opt.hkr.encryption_public_key"][0]) == spki
    key = pair.decrypt(unhex(adv["icmpv6.opt.hkr.encrypted_handover_key"][0]), padding.PKCS1v15())
    at = int(adv["icmpv6.opt.hkr.at"][0])
    assert (at, len(key)) == (0, 20)
    mn, ar = (json.loads((out / s / "hk.json").read_text()) for s in ("mn", "ar"))
    assert len(mn) == len(ar) == 1
    assert mn[0]["key"] == ar[0]["key"] == key.hex() and mn[0]["at"] == ar[0]["at"] == at
    assert mn[0]["cga"] == ar[0]["cga"] == sol["ipv6.src"][0]
    # and the AR's sealed store on disk holds that key under the MN's CGA
    cfg = config.load(str(out / "ar" / "config.json"))
    ks = keystore.KeyStore((out / "ar" / "device.key").read_bytes(), cfg["keystore_max"], cfg["hk_lifetime"])
    ks.load(str(out / "ar" / "keystore.bin"), time.time())
    assert ks.get(config.parse_addr(mn[0]["cga"]), time.time())[0] == key
    assert key not in (out / "ar" / "keystore.bin").read_bytes()


def authenticator_ok(key, coa, par, m, n=12):
    """docs/interop.md: First(N, HMAC-SHA1(key, coa | par | MH with checksum zero, without the Authenticator))."""
    data = coa + par + m[:4] + b"\0\0" + m[6:-n]
    return hmac.compare_digest(hmac.new(key, data, hashlib.sha1).digest()[:n], m[-n:])


def test_fbu_and_fback_authenticators_recompute(demo):
    out, _, _, frames, packets = demo
    key = bytes.fromhex(json.loads((out / "mn" / "hk.json").read_text())[0]["key"])
    fbu, fback = frames[4], frames[5]
    ncoa = config.parse_addr(fbu["mip6.acoa.acoa"][0])
    _, par, m = mobility_header(packets[4])
    assert unhex(fbu["mip6.badff.auth"][0]) == m[-12:-2]   # where tshark finds it (2 octets short, docs/interop.md)
    assert authenticator_ok(key, ncoa, par, m)
    assert not authenticator_ok(key[::-1], ncoa, par, m)    # the check can fail
    _, _, m = mobility_header(packets[5])
    assert authenticator_ok(key, ncoa, par, m)


def test_counters_files(demo):
    out = demo[0]
    for side in ("ar", "mn"):
        c = json.loads((out / side / "counters.json").read_text())
        assert all(isinstance(k, str) and type(v) is int for k, v in c.items())
        assert c["errors.engine"] == 0 and c["dropped.malformed"] == 0


def test_ar_restart_between_key_and_fbu(tmp_path):
    """The AR is killed (SIGKILL: no clean shutdown) as soon as the MN holds the key and
    started again; the FBU still verifies because the daemon saved the sealed key store
    before it sent the PrRtAdv (test_main_daemon.py checks that order deterministically)."""
    with Sim(tmp_path / "demo") as sim:
        tshark = sim.capture()
        go = tmp_path / "go"
        ar = sim.daemon("ar")
        mn = sim.daemon("mn", *sim.mn_args("mn"), "--pause-before-fbu", go)
        wait_for(lambda: (sim.out / "mn" / "hk.json").exists() or mn.poll() is not None, 15, "the handover key")
        assert stop(ar, signal.SIGKILL) == -signal.SIGKILL
        log = (sim.out / "ar" / "daemon.log").read_text()
        assert "hk-issued" in log and "fbu" not in log.split("hk-issued")[1] and " ar stop " not in log
        ar = sim.daemon("ar")
        go.touch()
        assert mn.wait(20) == 0
        sim.await_fbacks(1)
        stop(ar)
        stop(tshark)
        log = (sim.out / "ar" / "daemon.log").read_text()
    second = log.split(" hk-issued ", 1)[1]  # after the key: the killed process said nothing more
    assert "loaded 1 keys" in second and "fbu-accepted" in second and " hk-" not in second
    frames = dissect(sim.out / "exchange.pcap")
    assert [name(f) for f in frames] == ["CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack"]
    assert frames[5]["mip6.fback.status"] == ["0"]


def test_daemon_survives_malformed_packets(tmp_path):
    """Garbage, truncated ND and an ND message with hop limit 64 sent at the AR daemon:
    it keeps running, counts them, and then serves an MN as usual."""
    with Sim(tmp_path / "demo") as sim:
        ar = sim.daemon("ar")
        ll = bytes.fromhex("fe800000000000000000000000000001")
        allr = bytes.fromhex("ff020000000000000000000000000002")

        def ip6(body, hlim=255, plen=None):
            # a right ICMPv6 checksum, so the engine's parsers see the junk (rfc4443 2.3)
            data = ll + allr + struct.pack(">I3xB", len(body), 58) + body[:2] + b"\0\0" + body[4:]
            data += b"\0" * (len(data) % 2)
            c = sum(struct.unpack(">%dH" % (len(data) // 2), data))
            while c >> 16:
                c = (c & 0xFFFF) + (c >> 16)
            body = body[:2] + struct.pack(">H", ~c & 0xFFFF) + body[4:] if len(body) >= 4 else body
            return struct.pack(">IHBB", 0x60000000, len(body) if plen is None else plen, 58, hlim) + ll + allr + body
        bad = [ip6(b"\x9a\x00\x00\x00\x02"),                      # truncated RtSolPr (Subtype 2: the kernel filter checks it)
               ip6(bytes([154, 0, 0, 0, 2, 0, 0, 1, 27, 200]) + os.urandom(40)),  # option running past the end
               ip6(bytes([148, 0, 0, 0]) + os.urandom(12)),       # CPS with junk options
               ip6(bytes([148, 0, 0, 0, 0, 1, 255, 255]), hlim=64),  # a CPS that crossed a router: the driver drops it
               ip6(bytes([133, 0, 0, 0, 0, 0, 0, 0])),            # an RS: the kernel filter never passes it on
               ip6(b"\x9a\x00\x00\x00\x02", plen=400),            # payload length beyond the frame
               os.urandom(30)]                                    # not even an IPv6 header
        inject = ("import socket,sys\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('eth0',0))\n"
                  "for h in sys.argv[1:]:\n    s.send(bytes.fromhex('333300000002020000000099' + '86dd' + h))\n")
        sim.link.exec_(sim.link.ns["mn"], sys.executable, "-c", inject, *[b.hex() for b in bad])
        wait_for(lambda: junk_counted(sim.out / "ar" / "counters.json"), 15, "the AR to count the junk")
        mn = sim.daemon("mn", *sim.mn_args("mn"))
        assert mn.wait(20) == 0
        assert ar.poll() is None
        stop(ar)
    c = json.loads((sim.out / "ar" / "counters.json").read_text())
    assert c["dropped.hop_limit"] == 1 and c["dropped.malformed"] >= 2
    assert c["errors.engine"] == 0, (sim.out / "ar" / "daemon.log").read_text()
    assert not c.get("dropped.checksum")                  # the junk reached the parsers
    assert c["fbu.accepted"] == 1


def test_sim_in_a_user_namespace(tmp_path):
    # What a non-root user gets (unprivileged user namespaces): the same command runs again
    # inside new user, network and mount namespaces. --userns takes that path as root too.
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-Ur", "true"]).returncode:
        pytest.skip("unprivileged user namespaces are not available here (unshare -Ur)")
    out = tmp_path / "demo"
    proc = subprocess.Popen([str(ROOT / ".venv/bin/fmipkey"), "sim", "--userns", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = set()
    while proc.poll() is None:   # the run takes seconds: host namespaces would show up here
        seen |= netns()
        time.sleep(0.05)
    text = proc.stdout.read()
    assert proc.returncode == 0 and text.rstrip().endswith("PASS"), text[-3000:]
    ours = namespaces(text)
    assert ours and not ours & seen, seen   # the namespaces lived and died inside the user namespace
    assert {"CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack"} <= {name(f) for f in dissect(out / "exchange.pcap")}


USER = "fmtest"


def user_venv(top, as_user):
    """A venv the user can run when ours is out of reach (its interpreter under /root, mode
    700): the system's Python of our version, seeing our venv's packages, and a `micropython`
    beside it as ours has. None when there is no such Python."""
    import sysconfig
    system = "/usr/bin/python%d.%d" % sys.version_info[:2]
    venv = top / "venv"
    if not os.access(system, os.X_OK) or as_user("%s -m venv %s" % (system, venv)).returncode:
        return None
    site = subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True).stdout.strip()
    Path(site, "fmipkey-project.pth").write_text("import site; site.addsitedir(%r)\n" % sysconfig.get_paths()["purelib"])
    ours = (ROOT / ".venv/bin/micropython").read_text().split("\n", 1)[1]
    (venv / "bin/micropython").write_text("#!%s\n%s" % (venv / "bin/python", ours))
    (venv / "bin/micropython").chmod(0o755)
    return venv / "bin/python"


def test_sim_as_an_unprivileged_user(tmp_path):
    """`fmipkey sim` run by a real non-root user: it re-runs itself in a user namespace,
    passes, and what it writes under --out belongs to that user."""
    import pwd
    import tempfile
    if shutil.which("su") is None or shutil.which("unshare") is None:
        pytest.skip("needs su and util-linux's unshare")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        if shutil.which("useradd") is None or subprocess.run(["useradd", "-m", USER]).returncode:
            pytest.skip("could not create the unprivileged user %s (useradd)" % USER)
    uid = pwd.getpwnam(USER).pw_uid

    def as_user(cmd, timeout=60):
        return subprocess.run(["su", USER, "-s", "/bin/bash", "-c", "cd %s && %s" % (ROOT, cmd)],
                              capture_output=True, text=True, timeout=timeout)
    if as_user("unshare -Ur true").returncode:
        pytest.skip("unprivileged user namespaces are disabled (unshare -Ur fails as %s)" % USER)
    top = Path(tempfile.mkdtemp(prefix="fmipkey-sim-user-"))
    try:
        os.chown(top, uid, -1)
        python = ".venv/bin/python"
        r = as_user(python + " -c 'import fmipkey_tools.sim'")
        if r.returncode:
            python = user_venv(top, as_user)
            r = as_user("%s -c 'import fmipkey_tools.sim'" % python) if python else r
        if r.returncode:  # nothing is chmod-ed here to make it so
            pytest.skip("the checkout and its packages are not usable by %s: %s"
                        % (USER, (r.stderr.strip() or "?")[-300:]))
        out = top / "demo"
        r = as_user("%s -m fmipkey_tools.cli sim --out %s" % (python, out), timeout=120)
        assert r.returncode == 0 and r.stdout.rstrip().endswith("PASS"), (r.stdout + r.stderr)[-3000:]
        pcap = out / "exchange.pcap"
        assert pcap.stat().st_size > 24 and pcap.stat().st_uid == uid
        assert all(p.stat().st_uid == uid for p in out.rglob("*"))
    finally:
        shutil.rmtree(top, ignore_errors=True)
