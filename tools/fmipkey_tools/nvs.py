"""device.key for an ESP32 AR in its NVS partition instead of its file system:
`fmipkey provision --nvs` writes the partition image (Espressif's generator,
PyPI esp-idf-nvs-partition-gen) into the bundle, `fmipkey flash` writes it with
esptool at the NVS partition's offset in boards/esp32/partitions-fmipkey.csv,
and the daemon reads it through MicroPython's esp32.NVS (firmware/fmipkey/nvs.py).
read_key() reads an image back (provision --force keeps the key) by the NVS format
ESP-IDF documents: pages of 4096 octets, a 32-octet header, a 32-octet entry state
bitmap, 126 entries of 32 octets; a namespace entry maps a name to an index, a
blob is BLOB_DATA chunks plus a BLOB_IDX; entries carry a CRC32."""
import csv
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import click

from fmipkey import nvs as fw_nvs

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = ROOT / "boards" / "esp32" / "partitions-fmipkey.csv"
IMAGE = "nvs.bin"   # in the bundle: written to flash by esptool, never copied to the file system


def partitions(table=PARTITIONS):
    """The rows of an ESP-IDF partition table CSV: (name, type, subtype, offset, size)."""
    with open(table, newline="") as f:
        rows = csv.reader(line for line in f if line.strip() and not line.lstrip().startswith("#"))
        return [(c[0], c[1], c[2], int(c[3], 0), int(c[4], 0)) for c in ([x.strip() for x in r] for r in rows)]


def partition(name="nvs", table=PARTITIONS):
    """(offset, size) of partition `name` in an ESP-IDF partition table CSV."""
    for row in partitions(table):
        if row[0] == name:
            return row[3], row[4]
    raise click.ClickException("%s has no partition named %s" % (table, name))


def image(device_key, size=None):
    """The NVS partition image (bytes) holding device_key as blob fw_nvs.KEY in namespace
    fmipkey, sized for the table's nvs partition."""
    if size is None:
        size = partition()[1]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "key").write_bytes(device_key)
        (d / "in.csv").write_text("key,type,encoding,value\n%s,namespace,,\n%s,file,binary,%s\n"
                                  % (fw_nvs.NAMESPACE, fw_nvs.KEY, d / "key"))
        r = subprocess.run([sys.executable, "-m", "esp_idf_nvs_partition_gen", "generate", str(d / "in.csv"),
                            str(d / "out.bin"), hex(size)], capture_output=True, text=True, timeout=120)
        if r.returncode or not (d / "out.bin").exists():
            raise click.ClickException("esp-idf-nvs-partition-gen failed: %s" % (r.stderr or r.stdout).strip())
        return (d / "out.bin").read_bytes()


PAGE, ENTRY = 4096, 32
U8, BLOB_DATA = 0x01, 0x42


def _crc(data):
    return zlib.crc32(data, 0xFFFFFFFF)


def entries(img):
    """(namespace index, type, key, data[8], the following span-1 entries' bytes) of every
    written entry of an NVS image; ValueError for an entry whose CRC does not match."""
    out = []
    for p in range(0, len(img), PAGE):
        page = img[p:p + PAGE]
        if page[:4] == b"\xff" * 4:   # an empty page
            continue
        bitmap = int.from_bytes(page[32:64], "little")
        i = 0
        while i < 126:
            if (bitmap >> (2 * i)) & 3 != 2:    # 0b10: written
                i += 1
                continue
            e = page[64 + ENTRY * i:64 + ENTRY * (i + 1)]
            if struct.unpack("<I", e[4:8])[0] != _crc(e[:4] + e[8:]):
                raise ValueError("NVS entry %d of page %d: CRC mismatch" % (i, p // PAGE))
            span = max(1, e[2])
            out.append((e[0], e[1], e[8:24].rstrip(b"\0").decode(), e[24:32],
                        page[64 + ENTRY * (i + 1):64 + ENTRY * (i + span)]))
            i += span
    return out


def read_key(img, namespace=fw_nvs.NAMESPACE, key=fw_nvs.KEY):
    """The blob `key` of `namespace` in an NVS image (one chunk: a device key is 32 octets)."""
    es = entries(img)
    spaces = {k: d[0] for ns, t, k, d, _ in es if ns == 0 and t == U8}
    if namespace not in spaces:
        raise ValueError("no NVS namespace %s" % namespace)
    for ns, t, k, d, payload in es:
        if ns == spaces[namespace] and t == BLOB_DATA and k == key:
            length, crc = struct.unpack("<H2xI", d)
            if _crc(payload[:length]) != crc:
                raise ValueError("NVS blob %s: CRC mismatch" % key)
            return payload[:length]
    raise ValueError("no NVS blob %s in namespace %s" % (key, namespace))
