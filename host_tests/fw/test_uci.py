# uci.py: OpenWrt's /etc/config/fmipkey as the daemon's settings, under both interpreters.
# The file the package ships is read as it is; a bad value gets config.json's message.
import json
import os

from fmipkey import config, uci
from fmipkey.errors import ConfigError
from fwtest import DATA, raises

SHIPPED = DATA + "../../../boards/openwrt/files/fmipkey.config"
BUNDLE_CFG = {"role": "ar", "interface": "eth9", "prefix": "2001:db8:7::/64", "hk_lifetime": 600, "cga_sec": 1,
              "neighbors": [{"ap_id": "02:00:00:00:09:00", "nar_lla": "02:00:00:00:09:01",
                             "nar_addr": "2001:db8:9::1", "nar_prefix": "2001:db8:9::/64"}]}


def tmpdir():
    d = "/tmp/fk_uci_%s" % "".join("%02x" % b for b in os.urandom(6))
    os.mkdir(d)
    return d


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def setup(uci_text, bundle_cfg=BUNDLE_CFG):
    """A bundle directory with config.json, and a UCI file naming it; returns the UCI path."""
    d = tmpdir()
    if bundle_cfg is not None:
        os.mkdir(d + "/bundle")
        write(d + "/bundle/config.json", json.dumps(bundle_cfg))
    write(d + "/fmipkey", "config fmipkey 'main'\n\toption bundle '%s/bundle'\n%s" % (d, uci_text))
    return d + "/fmipkey"


def shipped_options():
    with open(SHIPPED) as f:
        return uci.section(uci.parse(f.read(), SHIPPED), SHIPPED)


def test_words_quoting_as_uci_writes_it():
    assert uci.words("\toption name 'a b'  # note", "x") == ["option", "name", "a b"]
    assert uci.words("option v 'it'\\''s'", "x") == ["option", "v", "it's"]
    assert uci.words('option v "say \\"hi\\""', "x") == ["option", "v", 'say "hi"']
    assert uci.words("list n bare\\ word", "x") == ["list", "n", "bare word"]
    assert uci.words("option v ''", "x") == ["option", "v", ""]
    assert uci.words("  # only a comment", "x") == []
    assert "quote is not closed" in raises(ConfigError, uci.words, "option v 'open", "f line 3").args[0]


def test_parse_sections_options_and_lists():
    s = uci.parse("package fmipkey\n\nconfig fmipkey 'main'\n\toption a '1'\n\tlist n 'x'\n\tlist n 'y'\n"
                  "config other\n\toption a '2'\n", "f")
    assert s == [("fmipkey", "main", {"a": "1", "n": ["x", "y"]}), ("other", None, {"a": "2"})]
    e = raises(ConfigError, uci.parse, "config fmipkey 'main'\n\toptoin a '1'\n", "/etc/config/fmipkey")
    assert e.args[0].startswith("/etc/config/fmipkey line 2: not UCI"), e.args[0]
    e = raises(ConfigError, uci.section, uci.parse("config other 'x'\n", "f"), "f")
    assert "no 'config fmipkey' section" in e.args[0]


def test_shipped_file_is_disabled_and_lists_every_ar_tunable_at_its_default():
    opts = shipped_options()
    assert opts["enabled"] == "0" and opts["bundle"] == "/etc/fmipkey" and opts["interface"] == "br-lan"
    assert opts["device_key_file"][:1] == "/" and not opts["device_key_file"].startswith(opts["bundle"] + "/")
    got = uci.settings(opts)
    # from the bundle, not tunables: identity, files in the bundle, the link's prefix and
    # neighbours (commented examples in the file); MN-only keys
    bundle_keys = ("role", "cga_sec", "prefix", "neighbors", "key_file", "cga_file", "certs_file", "anchors_file",
                   "hkepk_file", "keystore_file")
    placed = ("interface", "device_key_file", "counters_file")  # set for OpenWrt on purpose
    for name, default, kind, text in config.SCHEMA:
        if name in bundle_keys or text.startswith("mn:"):
            assert name not in got, name
        elif name not in placed:
            assert name in got and got[name] == default and type(got[name]) is type(default), name
    assert config.validate(got)["interface"] == "br-lan"


def test_uci_overrides_the_bundle():
    path = setup("\toption hk_lifetime '3600'\n\toption interface 'br-lan'\n\toption timestamp_fuzz '0.5'\n"
                 "\toption at '1'\n\toption enabled '1'\n\toption network 'lan'\n"
                 "\tlist neighbors '02:00:00:00:02:00,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/64'\n"
                 "\tlist neighbors '02:00:00:00:03:00,02:00:00:00:03:01,2001:db8:3::1,2001:db8:3::/64,0'\n")
    bundle, cfg = uci.load(path)
    assert bundle == path[:-len("fmipkey")] + "bundle"
    assert cfg["hk_lifetime"] == 3600 and cfg["interface"] == "br-lan" and cfg["at"] == 1
    assert cfg["timestamp_fuzz"] == 0.5
    assert cfg["prefix"] == "2001:db8:7::/64" and cfg["cga_sec"] == 1   # the bundle's, UCI leaves them
    assert cfg["neighbors"] == [
        {"ap_id": "02:00:00:00:02:00", "nar_lla": "02:00:00:00:02:01", "nar_addr": "2001:db8:2::1",
         "nar_prefix": "2001:db8:2::/64"},
        {"ap_id": "02:00:00:00:03:00", "nar_lla": "02:00:00:00:03:01", "nar_addr": "2001:db8:3::1",
         "nar_prefix": "2001:db8:3::/64", "fmip": False}]
    assert cfg == config.validate(cfg)


def same_message(uci_text, key, json_value):
    """The UCI error is config.json's error for the same value, after the file's name."""
    path = setup(uci_text)
    got = raises(ConfigError, uci.load, path).args[0]
    cfg = dict(BUNDLE_CFG)
    cfg[key] = json_value
    want = raises(ConfigError, config.validate, cfg).args[0]
    assert got == path + ": " + want, (got, want)
    return got


def test_bad_values_get_config_json_messages():
    m = same_message("\toption hk_lifetme '3600'\n", "hk_lifetme", 3600)
    assert "unknown config key 'hk_lifetme' (did you mean 'hk_lifetime'?)" in m
    m = same_message("\toption hk_lifetime 'soon'\n", "hk_lifetime", "soon")
    assert 'hk_lifetime: "soon" is not valid; use a whole number from 1 to 65535' in m
    same_message("\toption hk_lifetime '99999'\n", "hk_lifetime", 99999)
    same_message("\toption at '2'\n", "at", 2)
    same_message("\toption log 'loud'\n", "log", "loud")
    same_message("\toption prefix '2001:db8::/48'\n", "prefix", "2001:db8::/48")
    same_message("\toption rsa_min_bits '4096'\n", "rsa_min_bits", 4096)
    m = same_message("\tlist neighbors '02:00:00:00:02:00,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/60'\n",
                     "neighbors", [{"ap_id": "02:00:00:00:02:00", "nar_lla": "02:00:00:00:02:01",
                                    "nar_addr": "2001:db8:2::1", "nar_prefix": "2001:db8:2::/60"}])
    assert "neighbors[0].nar_prefix" in m
    m = same_message("\tlist neighbors '02:00:00:00:02:00,02:00:00:00:02:01,2001:db8:2::1,2001:db8:2::/64,maybe'\n",
                     "neighbors", [{"ap_id": "02:00:00:00:02:00", "nar_lla": "02:00:00:00:02:01",
                                    "nar_addr": "2001:db8:2::1", "nar_prefix": "2001:db8:2::/64", "fmip": "maybe"}])
    assert "neighbors[0].fmip" in m


def test_a_neighbour_with_the_wrong_field_count_says_the_format():
    e = raises(ConfigError, uci.load, setup("\tlist neighbors '02:00:00:00:02:00,2001:db8:2::1'\n"))
    assert "neighbors[0]: \"02:00:00:00:02:00,2001:db8:2::1\" is not valid; use " + uci.NEIGHBOR in e.args[0]


def test_missing_bundle_and_missing_file():
    path = setup("", bundle_cfg=None)
    e = raises(ConfigError, uci.load, path)
    assert e.args[0] == ("bundle %sbundle: no config.json there; copy there the bundle fmipkey provision wrote, "
                         "or point fmipkey.main.bundle at it" % path[:-len("fmipkey")]), e.args[0]
    e = raises(ConfigError, uci.load, "/nonexistent/fmipkey")
    assert e.args[0].startswith("/nonexistent/fmipkey: cannot read it")
