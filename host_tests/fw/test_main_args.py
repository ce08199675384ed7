# The daemon's command line and start-up refusals (no link needed), under both interpreters.
import os

from fmipkey import compat, config, main
from fwtest import raises


def test_args():
    o = main._args(["b", "--ncoa", "2001:db8:2::5", "--timeout", "7", "--pause-before-fbu", "/tmp/go", "--export-keys"])
    assert o["bundle"] == "b" and o["timeout"] == 7.0 and o["pause"] == "/tmp/go" and o["export"]
    assert o["ncoa"] == config.parse_addr("2001:db8:2::5")
    assert main._args(["b"])["ncoa"] is None and not main._args(["b"])["export"]
    assert "unexpected" in raises(ValueError, main._args, ["b", "c"]).args[0]
    assert "unexpected" in raises(ValueError, main._args, ["b", "--timeout"]).args[0]
    assert "no bundle" in raises(ValueError, main._args, []).args[0]
    raises(ValueError, main._args, ["b", "--ncoa", "not-an-address"])


def test_usage_and_missing_bundle_exit_2():
    assert main.main([]) == 2
    assert main.main(["/nonexistent-bundle"]) == 2   # ConfigError: no config.json, said on stderr


def test_write_json_is_atomic():
    path = "/tmp/fmipkey-test-main-%s.json" % "".join("%02x" % b for b in os.urandom(4))
    main._write_json(path, {"a": 1})
    main._write_json(path, {"a": 2})
    with open(path) as f:
        assert f.read() == '{"a": 2}'
    assert not compat.exists(path + ".tmp")
    os.remove(path)


def test_help_names_the_test_only_options():
    assert main.main(["--help"]) == 0 and main.main(["b", "-h"]) == 0
    assert "--export-keys      FOR TESTS AND THE DEMO ONLY: write every handover key in plaintext" in main.HELP
    o = main._args(["b", "--console", "--log-time", "unix"])
    assert o["console"] and o["unix_time"]
    assert not main._args(["b", "--log-time", "iso"])["unix_time"]
    assert "unexpected" in raises(ValueError, main._args, ["b", "--log-time", "local"]).args[0]
