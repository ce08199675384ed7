"""The issue's end-to-end test without hardware: provision an AR with the
simulation's throwaway PKI, flash it onto a virtual board (the unix port on a
socat pty) with the real mpremote transport, configure it through `fmipkey
console`, then run the AR from that flash, .mpy files only, in the simulation's
network namespace and complete a key exchange and FBU with an MN."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

if os.geteuid() != 0:
    pytest.skip("the flashed AR runs in the simulation's network namespaces, which need root", allow_module_level=True)
missing = [t for t in ("tshark", "ip", "socat") if shutil.which(t) is None]
if missing:
    pytest.skip("needs %s (make tools installs tshark, iproute2 and socat)" % ", ".join(missing), allow_module_level=True)

from fmipkey_tools import board, build, flash  # noqa: E402
from conftest import cli  # noqa: E402
from fmipkey_tools import inspect, sim as simtool  # noqa: E402
from fmipkey_tools.sim import MICROPYTHON, Sim, hk, message_name, packets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LIFETIME = 3600  # not the default 43200: seen only if the console's setting reached the running AR


def test_flash_configure_and_run_ar_from_virtual_board(tmp_path):
    fw, flash_dir = tmp_path / "fw", tmp_path / "flash"
    build.build(fw)
    started = time.time()
    with Sim(tmp_path / "sim") as sim:
        bundle = sim.out / "ar"
        with board.virtual_board(flash_dir) as tty:
            r = cli("flash", "--port", tty, "--fw", fw, "--bundle", bundle)
            assert r.exit_code == 0, r.output
            files = flash.local_files(fw, bundle)
            assert "fmipkey/main.mpy" in files and "key.pem" in files
            assert ("%d written (%d added, 0 updated) and verified by SHA-256 on the board, 0 unchanged (SHA-256 on "
                    "the board matched), 0 removed" % (len(files), len(files))) in r.output

            r = cli("console", "--port", tty, "set", "hk_lifetime", str(LIFETIME))
            assert r.exit_code == 0 and "staged" in r.output, r.output
            r = cli("console", "--port", tty, "save")
            assert r.exit_code == 0 and "hk_lifetime changed" in r.output, r.output
            status = json.loads(cli("console", "--port", tty, "status", "--json").output)
            assert status["role"] == "ar" and status["interface"] == "br0" and status["pending"] == []
        assert not os.path.exists(tty)  # the virtual board is gone; only its flash is left

        # What runs is what was flashed: no sources on the flash, and the path the AR
        # daemon gets makes the interpreter import fmipkey from the flash's .mpy files.
        assert not list((flash_dir / "fmipkey").rglob("*.py"))
        sim.run_from_flash("ar", flash_dir)
        where = subprocess.run([str(MICROPYTHON), "-c", "import fmipkey.main; print(fmipkey.main.__file__)"],
                               env=dict(os.environ, MICROPYPATH=str(sim.pypath["ar"])), cwd=str(ROOT),
                               capture_output=True, text=True, timeout=10)
        assert where.stdout.strip() == str(flash_dir.resolve() / "fmipkey" / "main.mpy"), where.stderr

        status = sim.run()
        mn_log = (sim.out / "mn" / "daemon.log").read_text()
        ar_log = (flash_dir / "daemon.log").read_text()
        assert status == {"mn": 0}, mn_log + ar_log

    # the same handover key on both sides, issued for the lifetime set through the console
    ar_keys, mn_keys = hk(flash_dir), hk(sim.out / "mn")
    assert len(ar_keys) == len(mn_keys) == 1, (ar_keys, mn_keys)
    assert (ar_keys[0]["key"], ar_keys[0]["at"], ar_keys[0]["cga"]) == \
        (mn_keys[0]["key"], mn_keys[0]["at"], mn_keys[0]["cga"])
    for k in ar_keys + mn_keys:
        assert started + LIFETIME - 1 <= k["expiry"] <= time.time() + LIFETIME, k
    assert "AT 0, %d s" % LIFETIME in ar_log
    counters = json.loads((flash_dir / "counters.json").read_text())
    assert counters["keys.issued"] == 1 and counters["fbu.accepted"] == 1 and counters["errors.engine"] == 0

    # and on the wire, as tshark reads it
    seen = packets(sim.out / "exchange.pcap")
    names = [message_name(p) for p in seen]
    for m in ("CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack"):
        assert m in names, names
    assert [p["icmpv6.opt.hkr.lifetime"] for p in seen if p["icmpv6.opt.hkr.lifetime"]] == [str(LIFETIME)]
    assert [p["mip6.fback.status"] for p in seen if message_name(p) == "FBack"] == ["0"]


def test_sim_flashed_option(tmp_path):
    """`fmipkey sim --flashed`: the documented path, the AR flashed onto a virtual board and run from it."""
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "fmipkey_tools.cli", "sim", "--flashed", "--out", str(out)],
                       capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("PASS"), r.stdout + r.stderr
    assert "the AR runs from %s" % (out / "ar-flash") in r.stdout
    assert (out / "ar-flash" / "fmipkey" / "ar" / "__init__.mpy").exists()
    assert hk(out / "ar-flash") and hk(out / "ar-flash")[0]["key"] == hk(out / "mn")[0]["key"]


def test_sim_out_is_emptied_only_when_the_sim_wrote_it(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("user data\n")
    r = cli("sim", "--out", mine)
    assert r.exit_code == 2 and "did not write (it has no .fmipkey-sim)" in r.output, r.output
    assert (mine / "notes.txt").read_text() == "user data\n"
    out = tmp_path / "out"
    simtool.clear_out(out)                     # new: made and marked
    (out / "exchange.pcap").write_bytes(b"old run")
    simtool.clear_out(out)                     # marked: emptied, marked again
    assert [p.name for p in out.iterdir()] == [simtool.MARKER]


def flip_in(pcap_path, frame, offset_from_end):
    """Flip one octet of record number `frame` (from 1) of a classic pcap."""
    data = bytearray(pcap_path.read_bytes())
    off = 24
    for _ in range(frame - 1):
        off += 16 + int.from_bytes(data[off + 8:off + 12], "little")
    end = off + 16 + int.from_bytes(data[off + 8:off + 12], "little")
    data[end - offset_from_end] ^= 0x40
    pcap_path.write_bytes(bytes(data))


def test_timeline_shows_inspect_checks_and_fails_on_a_failed_one(tmp_path, capsys):
    with Sim(tmp_path / "demo") as sim:
        status = sim.run()
        assert simtool.report(sim, status)
        out = capsys.readouterr().out
        prrtadv = [l for l in out.splitlines() if " PrRtAdv " in l][0]
        for check in ("cga ok", "signature ok", "nonce ok", "timestamp ok", "handover_key ok"):
            assert check in prrtadv, prrtadv
        assert "path ok" in [l for l in out.splitlines() if " CPA " in l][0]
        assert "badf ok" in [l for l in out.splitlines() if " FBack " in l][0]
        # a bit flipped in the PrRtAdv's RSA signature: the same run is now a FAIL
        records, _, _ = inspect.inspect_capture(sim.out / "exchange.pcap")
        frame = [r["index"] for r in records if r["message"] == "PrRtAdv"][0]
        flip_in(sim.out / "exchange.pcap", frame, 40)  # inside the signature, not the option's padding
        assert not simtool.report(sim, status)
        out = capsys.readouterr().out
        assert "#%d PrRtAdv: checksum failed; signature failed: bad signature" % frame in out, out
        assert out.rstrip().endswith("FAIL")
