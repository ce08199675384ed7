"""`fmipkey provision --nvs`'s partition image (tools/fmipkey_tools/nvs.py, made by
Espressif's esp-idf-nvs-partition-gen) read back with the NVS format as ESP-IDF
documents it (pages of 4096 octets: 32-octet header, 32-octet entry state bitmap,
126 entries of 32 octets; a namespace entry maps its name to an index, a blob is
BLOB_DATA chunks plus a BLOB_IDX, entries CRC32-protected): the device key is in
namespace fmipkey under device.key, where firmware/fmipkey/nvs.py asks esp32.NVS."""
import os
import struct
import zlib

from fmipkey import nvs as fw_nvs
from fmipkey_tools import nvs

PAGE, ENTRY = 4096, 32
U8, BLOB_DATA, BLOB_IDX = 0x01, 0x42, 0x48


def crc(data):
    return zlib.crc32(data, 0xFFFFFFFF)


def entries(img):
    """(namespace index, type, span, chunk index, key, data[8], following entries' bytes) of every written entry."""
    out = []
    for p in range(0, len(img), PAGE):
        page = img[p:p + PAGE]
        if page[:4] == b"\xff" * 4:   # empty page
            continue
        bitmap = int.from_bytes(page[32:64], "little")
        i = 0
        while i < 126:
            if (bitmap >> (2 * i)) & 3 != 2:    # 0b10: written
                i += 1
                continue
            e = page[64 + ENTRY * i:64 + ENTRY * (i + 1)]
            ns, typ, span, chunk = e[0], e[1], e[2], e[3]
            assert struct.unpack("<I", e[4:8])[0] == crc(e[:4] + e[8:]), "entry CRC"
            key = e[8:24].rstrip(b"\0").decode()
            out.append((ns, typ, span, chunk, key, e[24:32], page[64 + ENTRY * (i + 1):64 + ENTRY * (i + span)]))
            i += span
    return out


def test_device_key_is_a_blob_in_namespace_fmipkey():
    key = os.urandom(32)
    offset, size = nvs.partition()
    assert (offset, size) == (0x9000, 0x6000)    # where flash writes it: the table's nvs partition
    img = nvs.image(key)
    assert len(img) == size
    es = entries(img)
    spaces = {k: d[0] for ns, t, _, _, k, d, _ in es if ns == 0 and t == U8}
    assert fw_nvs.NAMESPACE == "fmipkey" and "fmipkey" in spaces
    idx = spaces["fmipkey"]
    chunks = [(d, payload) for ns, t, _, _, k, d, payload in es if ns == idx and t == BLOB_DATA and k == fw_nvs.KEY]
    assert len(chunks) == 1
    d, payload = chunks[0]
    length, data_crc = struct.unpack("<H2xI", d)
    assert payload[:length] == key and data_crc == crc(key)
    index = [d for ns, t, _, _, k, d, _ in es if ns == idx and t == BLOB_IDX and k == fw_nvs.KEY]
    assert index and struct.unpack("<I", index[0][:4])[0] == 32
