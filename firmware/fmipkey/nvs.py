# ESP32: a secret kept in the NVS partition rather than the file system
# (`fmipkey provision --nvs` writes the partition image, `fmipkey flash` the
# flash). A config file name "nvs:KEY" names blob KEY of namespace fmipkey.
from fmipkey.errors import ConfigError

NAMESPACE = "fmipkey"
KEY = "device.key"
PREFIX = "nvs:"


def name(file_name):
    """The NVS key a config file name "nvs:KEY" names, or None for a file."""
    return file_name[len(PREFIX):] if file_name[:len(PREFIX)] == PREFIX else None


def read(key, size=64):
    """Blob `key` of namespace fmipkey; ConfigError when it is not there."""
    try:
        import esp32
        buf = bytearray(size)
        n = esp32.NVS(NAMESPACE).get_blob(key, buf)
    except ImportError:
        raise ConfigError("%s%s: NVS exists on ESP32 only; provision without --nvs for this board" % (PREFIX, key))
    except OSError:
        raise ConfigError("%s%s: not in NVS; flash the bundle's nvs.bin (fmipkey flash --bundle)" % (PREFIX, key))
    return bytes(buf[:n])
