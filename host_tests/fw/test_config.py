# config.py: schema defaults, validation messages, set_value parsing, atomic save.
import json
import os

import fwtest
from fmipkey import config
from fmipkey.errors import ConfigError

TMP = "/tmp/fmipkey_test_config_%d.json" % os.getpid() if hasattr(os, "getpid") else "/tmp/fmipkey_test_config.json"
NEIGHBOR = {"ap_id": "02:00:00:00:01:01", "nar_lla": "020000000201",
            "nar_addr": "2001:db8:2::1", "nar_prefix": "2001:db8:2::/64"}


def reason(cfg):
    return fwtest.raises(ConfigError, config.validate, cfg).args[0]


def test_defaults_are_rfc_values():
    cfg = config.validate({})
    assert cfg["hk_lifetime"] == 43200 and cfg["hkepk_handovers"] == 10
    assert cfg["timestamp_delta"] == 300 and cfg["timestamp_fuzz"] == 1 and cfg["timestamp_drift"] == 1
    assert cfg["max_cpa_rate"] == 10 and cfg["rtsolpr_retries"] == 3
    assert cfg["rsa_min_bits"] == 1024 and cfg["rsa_max_bits"] == 2048
    assert cfg["at"] == 0 and cfg["role"] == "ar" and cfg["neighbors"] == []


def test_defaults_not_shared():
    a = config.validate({})
    a["neighbors"].append(NEIGHBOR)
    assert config.validate({})["neighbors"] == []


def test_unknown_key_suggests_closest():
    r = reason({"hk_lifetme": 10})
    assert "unknown config key 'hk_lifetme'" in r and "did you mean 'hk_lifetime'" in r


def test_unknown_key_far_from_all_has_no_suggestion():
    r = reason({"zzzzzzzzzzzz": 1})
    assert "did you mean" not in r and "known keys:" in r


def test_bad_values_name_key_and_fix():
    r = reason({"at": 2})
    assert r.startswith("at: 2 is not valid") and "one of 0, 1" in r
    r = reason({"hk_lifetime": 70000})
    assert r.startswith("hk_lifetime:") and "from 1 to 65535" in r
    assert reason({"at": True}).startswith("at:")
    assert reason({"at": 1.0}).startswith("at:")
    assert reason({"keystore_max": "5"}).startswith("keystore_max:")
    assert reason({"role": "router"}).startswith("role:")
    assert reason({"interface": ""}).startswith("interface:")
    assert reason([1]).startswith("config: expected a JSON object")


def test_prefix_must_be_a_64():
    assert "/64" in reason({"prefix": "2001:db8::/48"})
    assert "host bits" in reason({"prefix": "2001:db8::1/64"})
    assert "prefix:" in reason({"prefix": "2001:db8:::/64"})
    assert config.validate({"prefix": "fe80::/64"})["prefix"] == "fe80::/64"


def test_rsa_bounds_consistent():
    assert reason({"rsa_min_bits": 2048, "rsa_max_bits": 1024}).startswith("rsa_min_bits:")


def test_parse_addr():
    assert config.parse_addr("::") == bytes(16)
    assert config.parse_addr("2001:db8::1") == b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01"
    assert config.parse_addr("1:2:3:4:5:6:7:8")[14:] == b"\x00\x08"
    assert config.parse_addr("fe80::") == b"\xfe\x80" + bytes(14)
    for bad in ("1:2:3:4:5:6:7", "1::2::3", "12345::", "g::", "1:2:3:4:5:6:7:8:9", "", "1:2:3:4::5:6:7:8"):
        fwtest.raises(ValueError, config.parse_addr, bad)


def test_format_addr_compresses_longest_zero_run():
    for text in ("::", "2001:db8::1", "fe80::3c4a:5bf6:ffb4:ca6c", "1:0:0:2::3", "1:2:3:4:5:6:7:8", "1::", "::1:0:0:0:2"):
        assert config.format_addr(config.parse_addr(text)) == text
    assert config.format_addr(config.parse_addr("1:0:2:3:4:5:6:7")) == "1:0:2:3:4:5:6:7"


def test_parse_prefix_and_lla():
    assert config.parse_prefix("2001:db8:1::/64") == b"\x20\x01\x0d\xb8\x00\x01\x00\x00"
    assert config.parse_lla("02-00-5e-00-53-01") == b"\x02\x00\x5e\x00\x53\x01"
    fwtest.raises(ValueError, config.parse_lla, "02:00:5e")
    fwtest.raises(ValueError, config.parse_lla, "zz005e005301")


def test_neighbors():
    assert config.validate({"neighbors": [NEIGHBOR]})["neighbors"] == [NEIGHBOR]
    n = dict(NEIGHBOR)
    n["nar_addr"] = "2001:db8:2::zz"
    assert reason({"neighbors": [NEIGHBOR, n]}).startswith("neighbors[1].nar_addr:")
    n = dict(NEIGHBOR)
    del n["ap_id"]
    assert "exactly the keys" in reason({"neighbors": [n]})
    assert reason({"neighbors": {}}).startswith("neighbors:")


def test_set_value_parses_json_or_bare_text():
    cfg = config.validate({})
    assert config.set_value(cfg, "at", "1") == 1 and cfg["at"] == 1
    assert config.set_value(cfg, "interface", "br-lan") == "br-lan"
    assert config.set_value(cfg, "prefix", "2001:db8:5::/64") == "2001:db8:5::/64"
    assert config.set_value(cfg, "neighbors", json.dumps([NEIGHBOR])) == [NEIGHBOR]


def test_set_value_refuses_and_keeps_old_value():
    cfg = config.validate({})
    assert fwtest.raises(ConfigError, config.set_value, cfg, "at", "7").args[0].startswith("at:")
    assert fwtest.raises(ConfigError, config.set_value, cfg, "rsa_min_bits", "4096").args[0].startswith("rsa_min_bits:")
    assert "did you mean 'at'" in fwtest.raises(ConfigError, config.set_value, cfg, "aty", "1").args[0]
    assert cfg["at"] == 0 and cfg["rsa_min_bits"] == 1024


def test_save_then_load_round_trip():
    cfg = config.validate({"role": "mn", "at": 1, "neighbors": [NEIGHBOR]})
    config.save(TMP, cfg)
    try:
        assert config.load(TMP) == cfg
        assert TMP.rsplit("/", 1)[1] + ".tmp" not in os.listdir("/tmp")
    finally:
        os.remove(TMP)


def test_save_refuses_invalid_and_keeps_file():
    config.save(TMP, config.validate({}))
    try:
        bad = config.validate({})
        bad["at"] = 9
        fwtest.raises(ConfigError, config.save, TMP, bad)
        assert config.load(TMP)["at"] == 0
    finally:
        os.remove(TMP)


def test_load_errors_name_the_file():
    r = fwtest.raises(ConfigError, config.load, "/nonexistent/config.json").args[0]
    assert r.startswith("/nonexistent/config.json: cannot read")
    with open(TMP, "w") as f:
        f.write("{not json")
    try:
        assert "not valid JSON" in fwtest.raises(ConfigError, config.load, TMP).args[0]
    finally:
        os.remove(TMP)
