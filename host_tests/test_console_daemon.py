"""`fmipkey console` against a daemon that runs on a (virtual) board and serves an MN:
the daemon answers the console itself (fmipkey.main --console) and keeps serving."""
import json
import os
import re
import time

import pytest

from conftest import cli
from fmipkey_tools import board, build
from fmipkey_tools.sim import Sim, hk, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces")
ISO_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ar start ")


def start_daemon_on_board(tty, *args):
    """Run fmipkey.main from the board's REPL as its boot script would; returns the log read
    until the daemon has started (its stdout is the board's serial)."""
    with board.connect(tty) as t:
        t.exec_raw_no_follow("import fmipkey.main\nfmipkey.main.main(%r)" % (["."] + list(args)))
        seen, end = b"", time.monotonic() + 30
        while b" ar start " not in seen and time.monotonic() < end:
            time.sleep(0.05)
            seen += t.serial.read(t.serial.in_waiting)
    assert b" ar start " in seen, seen
    return seen.decode(errors="replace")


def test_console_answers_while_the_daemon_serves_an_mn(tmp_path):
    fw, flash_dir = tmp_path / "fw", tmp_path / "flash"
    build.build(fw)
    with Sim(tmp_path / "sim") as sim:
        with board.virtual_board(flash_dir) as tty:
            r = cli("flash", "--port", tty, "--fw", fw, "--bundle", sim.out / "ar")
            assert r.exit_code == 0, r.output
        # the board on the AR's side of the simulated link, its daemon started at its REPL
        with board.virtual_board(flash_dir, wrap=("ip", "netns", "exec", sim.link.ns["ar"])) as tty:
            log = start_daemon_on_board(tty, "--console", "--export-keys")
            start = [line for line in log.replace("\r", "").split("\n") if " ar start " in line][0]
            assert ISO_LINE.match(start[start.index(" ar start ") - 24:]), start
            pause = tmp_path / "go"
            mn = sim.daemon("mn", *sim.mn_args("mn"), "--pause-before-fbu", pause)
            wait_for(lambda: hk(sim.out / "mn") or mn.poll() is not None, 30, "the MN's handover key")
            assert mn.poll() is None, (sim.out / "mn" / "daemon.log").read_text()

            # the AR holds the MN's key, and the console reads it without stopping the AR
            r = cli("console", "--port", tty, "status", "--json")
            assert r.exit_code == 0, r.output
            status = json.loads(r.output)
            assert status["daemon"] == "running (answered by the daemon)"
            assert status["role"] == "ar" and status["keys"] == 1, status
            r = cli("console", "--port", tty, "counters", "--json")
            assert json.loads(r.output)["counters"]["keys.issued"] == 1, r.output
            r = cli("console", "--port", tty, "keys", "--json")
            mn_cga = hk(sim.out / "mn")[0]["cga"]
            assert [k["cga"] for k in json.loads(r.output)["keys"]] == [mn_cga]

            # the AR is still serving: the MN's FBU gets its FBack
            pause.write_text("go")
            assert mn.wait(30) == 0, (sim.out / "mn" / "daemon.log").read_text()
            r = cli("console", "--port", tty, "counters", "--json")
            assert json.loads(r.output)["counters"]["fbu.accepted"] == 1, r.output
            r = cli("console", "--port", tty, "set", "prefix", "2001:db8:99::/64")  # outside the certificate
            assert r.exit_code == 1 and "not staged: link prefix 2001:db8:99::/64 is not inside" in r.output

            # hk.json (plaintext keys, tests only) is private, on the AR's board and the MN
            assert os.stat(flash_dir / "hk.json").st_mode & 0o777 == 0o600
            assert os.stat(sim.out / "mn" / "hk.json").st_mode & 0o777 == 0o600
            assert (flash_dir / "daemon.json").exists()
            # --interrupt: Ctrl-C stops the daemon cleanly and the REPL answers
            r = cli("console", "--port", tty, "--interrupt", "status", "--json")
            assert r.exit_code == 0, r.output
            assert json.loads(r.output)["daemon"] == "not running"
            assert not (flash_dir / "daemon.json").exists()
            # started again, a reboot through the daemon: it answers, stops cleanly and the unix port exits
            start_daemon_on_board(tty, "--console")
            r = cli("console", "--port", tty, "reboot")
            assert r.exit_code == 0 and "rebooting" in r.output, r.output
            wait_for(lambda: not os.path.exists(tty), 10, "the board to exit")
        assert not (flash_dir / "daemon.json").exists()
        counters = json.loads((flash_dir / "counters.json").read_text())
        assert counters["errors.engine"] == 0  # the restarted daemon's, written as it stopped

