# firmware/fmipkey/nvs.py over a fake `esp32` module (MicroPython's esp32.NVS exists
# only on the ESP32 image): a config name "nvs:KEY" reads blob KEY of namespace fmipkey.
import os
import sys

import fwtest
from fmipkey import nvs
from fmipkey.errors import ConfigError


class FakeNVS:
    blobs = {}

    def __init__(self, namespace):
        self.namespace = namespace

    def get_blob(self, key, buf):
        # as the esp32 port: ENOENT (OSError) when missing, the blob's length when found
        data = FakeNVS.blobs.get((self.namespace, key))
        if data is None or len(data) > len(buf):
            raise OSError(2)
        buf[:len(data)] = data
        return len(data)


class FakeEsp32:
    NVS = FakeNVS


def with_esp32(fn, *args):
    sys.modules["esp32"] = FakeEsp32
    try:
        return fn(*args)
    finally:
        del sys.modules["esp32"]


def test_names_with_the_nvs_prefix_are_nvs_keys():
    assert nvs.name("nvs:device.key") == "device.key"
    assert nvs.name("device.key") is None
    assert nvs.name("/etc/fmipkey/device.key") is None


def test_read_returns_the_blob_of_namespace_fmipkey():
    key = bytes(range(32))
    FakeNVS.blobs = {("fmipkey", "device.key"): key, ("other", "device.key"): b"x" * 32}
    assert with_esp32(nvs.read, "device.key") == key


def test_missing_blob_is_a_config_error_saying_what_to_flash():
    FakeNVS.blobs = {}
    e = fwtest.raises(ConfigError, with_esp32, nvs.read, "device.key")
    assert "fmipkey flash" in e.args[0]


def test_no_esp32_module_is_a_config_error():
    sys.modules.pop("esp32", None)
    e = fwtest.raises(ConfigError, nvs.read, "device.key")
    assert "ESP32 only" in e.args[0]


def test_ar_daemon_seals_its_key_store_with_the_nvs_key():
    # an AR bundle whose device_key_file names NVS and holds no device.key file
    from daemonfix import bundle, daemon, remove
    b = bundle(device_key_file="nvs:device.key")
    os.remove(b + "/device.key")
    FakeNVS.blobs = {("fmipkey", "device.key"): bytes(range(32))}
    try:
        d = with_esp32(daemon, b)
        assert d.ks is not None
        FakeNVS.blobs = {}
        e = fwtest.raises(ConfigError, with_esp32, daemon, b)
        assert "nvs:device.key" in e.args[0]
    finally:
        remove(b)
