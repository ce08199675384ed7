"""device.key for an ESP32 AR in its NVS partition instead of its file system:
`fmipkey provision --nvs` writes the partition image (Espressif's generator,
PyPI esp-idf-nvs-partition-gen) into the bundle, `fmipkey flash` writes it with
esptool at the NVS partition's offset in boards/esp32/partitions-fmipkey.csv,
and the daemon reads it through MicroPython's esp32.NVS (firmware/fmipkey/nvs.py)."""
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from fmipkey import nvs as fw_nvs

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = ROOT / "boards" / "esp32" / "partitions-fmipkey.csv"
IMAGE = "nvs.bin"   # in the bundle: written to flash by esptool, never copied to the file system


def partition(name="nvs", table=PARTITIONS):
    """(offset, size) of partition `name` in an ESP-IDF partition table CSV."""
    with open(table, newline="") as f:
        for row in csv.reader(line for line in f if line.strip() and not line.lstrip().startswith("#")):
            cols = [c.strip() for c in row]
            if cols[0] == name:
                return int(cols[3], 0), int(cols[4], 0)
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
