# console.py on the board side: staged set, save, get, counters, status, in a scratch "flash" dir.
import binascii
import json
import os

import fwtest
from fmipkey import config, console
from fmipkey.crypto import cga, der
from fmipkey.errors import ConfigError

FLASH = "/tmp/fmipkey_test_console_flash"
LL = b"\xfe\x80" + bytes(6)  # an AR's CGA is link-local


def _pem(label, data):
    text = "-----BEGIN %s-----\n%s-----END %s-----\n" % (label, binascii.b2a_base64(data).decode(), label)
    return text.encode()


def in_flash(fn):
    """Run fn with the working directory a fresh flash holding an AR bundle that loads
    (key, Sec 0 CGA of it, a certificate) and its config.json."""
    try:
        os.mkdir(FLASH)
    except OSError:
        pass
    for name in os.listdir(FLASH):
        os.remove(FLASH + "/" + name)
    home = os.getcwd()
    os.chdir(FLASH)
    try:
        pem = fwtest.data("rsa1024_a.pem")
        key = der.parse_private_key(der.pem_decode(pem)[0][1])
        for name, data in (("key.pem", pem), ("certs.pem", _pem("CERTIFICATE", fwtest.data("cert_router.der"))),
                           ("cga.der", cga.encode(bytes(16), LL, 0, der.encode_spki(key.public)))):
            with open(name, "wb") as f:
                f.write(data)
        # cert_router.der holds 2001:db8:1234::/48 and 2001:db8:2000::/40
        config.save("config.json", config.validate({"role": "ar", "cga_sec": 0, "prefix": "2001:db8:1234::/64"}))
        fn()
    finally:
        os.chdir(home)


def test_set_stages_until_save():
    def body():
        assert console._set("at", "1") == {"name": "at", "value": 1, "pending": True}
        assert config.load("config.json")["at"] == 0
        got = console._get("at")
        assert got["value"] == 1 and got["pending"] and "algorithm" in got["help"]
        assert console._status()["pending"] == ["at"]
        assert console._save() == {"saved": "config.json", "changed": ["at"]}
        assert config.load("config.json")["at"] == 1
        assert console.PENDING not in os.listdir(".")
        assert console._get("at")["pending"] is False
        assert console._save()["changed"] == []
    in_flash(body)


def test_set_refuses_invalid_and_stages_nothing():
    def body():
        e = fwtest.raises(ConfigError, console._set, "at", "5")
        assert e.args[0].startswith("at: 5 is not valid")
        assert "did you mean 'at'" in fwtest.raises(ConfigError, console._set, "aat", "1").args[0]
        assert console.PENDING not in os.listdir(".")
    in_flash(body)


def test_set_accumulates_across_calls():
    def body():
        console._set("interface", "br-lan")
        console._set("hk_lifetime", "600")
        assert console._save()["changed"] == ["interface", "hk_lifetime"]
        cfg = config.load("config.json")
        assert cfg["interface"] == "br-lan" and cfg["hk_lifetime"] == 600
    in_flash(body)


def test_status_reports_config_and_interpreter():
    def body():
        s = console._status()
        assert s["role"] == "ar" and s["prefix"] == "2001:db8:1234::/64" and s["pending"] == []
        assert s["micropython"].count(".") == 2
        with open("cga.der", "rb") as f:
            assert s["cga"] == config.format_addr(cga.address(f.read(), 0))
        assert s["certificate_expires"] == "2040-01-01T00:00:00Z"  # openssl: notAfter=Jan  1 00:00:00 2040 GMT
        assert s["daemon"] == "not running"
        assert s["drops"].startswith("unknown: counters.json: not written yet")
        assert s["keys"].startswith("unknown: device_key_file: cannot read device.key")
        with open("counters.json", "w") as f:
            f.write(json.dumps({"received": 3, "dropped.cga": 2, "dropped.sig": 1}))
        with open("device.key", "wb") as f:
            f.write(bytes(32))
        s = console._status()
        assert s["drops"] == {"dropped.cga": 2, "dropped.sig": 1} and s["keys"] == 0
        assert s["daemon"] == "not running"  # counters left by a daemon that stopped cleanly
        with open("daemon.json", "w") as f:  # fmipkey.main.RUNNING, while a daemon runs
            f.write(json.dumps({"started": 1796112090}))
        assert console._status()["daemon"] == "running as another process (since 2026-12-01T08:01:30Z)"
        os.remove("counters.json")
        s = console._status()  # no counters since a start long ago: it died without cleaning up
        assert s["daemon"].startswith("not running (ended without stopping cleanly; counters last written "), s
        assert console._status("running (answered by the daemon)")["daemon"] == "running (answered by the daemon)"
    in_flash(body)


def test_set_prefix_applies_provisions_check():
    def body():
        e = fwtest.raises(ConfigError, console._set, "prefix", "2001:db8:9::/64")
        assert e.args[0] == ("not staged: link prefix 2001:db8:9::/64 is not inside the router certificate's "
                             "prefixes (2001:db8:1234::/48, 2001:db8:2000::/40); use a prefix inside them, or issue a "
                             "certificate for it (fmipkey pki router --prefix)"), e.args[0]
        assert console.PENDING not in os.listdir(".")
        assert console._set("prefix", "2001:db8:2001::/64")["value"] == "2001:db8:2001::/64"
        assert console._save()["changed"] == ["prefix"]
        # a prefix staged before the certificate changed is refused at save too
        console._set("at", "1")
        staged = config.load(console.PENDING)
        staged["prefix"] = "2001:db8:9::/64"
        config.save(console.PENDING, staged)
        e = fwtest.raises(ConfigError, console._save)
        assert "link prefix 2001:db8:9::/64 is not inside the router certificate's prefixes" in e.args[0]
        assert config.load("config.json")["prefix"] == "2001:db8:2001::/64"
    in_flash(body)


def test_counters_from_daemon_file():
    def body():
        e = fwtest.raises(ConfigError, console._counters)
        assert e.args[0].startswith("counters.json: not written yet")
        with open("counters.json", "w") as f:
            f.write(json.dumps({"received": 3, "keys.issued": 1}))
        assert console._counters() == {"counters": {"received": 3, "keys.issued": 1}}
    in_flash(body)


def test_missing_config_is_an_error_not_a_crash():
    def body():
        os.remove("config.json")
        assert "config.json: cannot read" in fwtest.raises(ConfigError, console._status).args[0]
    in_flash(body)


def test_save_refuses_settings_the_bundle_cannot_run_with():
    def body():
        before = config.load("config.json")
        for name, value, why in (("role", "mn", "anchors.pem: missing"), ("cga_sec", "1", "cga.der"),
                                 ("key_file", "other.pem", "other.pem: missing")):
            console._set(name, value)
            e = fwtest.raises(ConfigError, console._save)
            assert e.args[0].startswith("not saved: the bundle on this board does not load"), e.args[0]
            assert why in e.args[0], e.args[0]
            assert config.load("config.json") == before
            os.remove(console.PENDING)
        console._set("at", "1")  # a value the bundle runs with is saved
        assert console._save()["changed"] == ["at"]
    in_flash(body)
