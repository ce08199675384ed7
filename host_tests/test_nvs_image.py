"""`fmipkey provision --nvs`'s partition image (tools/fmipkey_tools/nvs.py, made by
Espressif's esp-idf-nvs-partition-gen) read back by the NVS format ESP-IDF
documents (nvs.read_key, also what provision --force uses to keep the key): the
device key is blob device.key of namespace fmipkey, where firmware/fmipkey/nvs.py
asks esp32.NVS, with a BLOB_IDX giving its size, every entry's CRC32 right."""
import os
import struct

import pytest

from fmipkey import nvs as fw_nvs
from fmipkey_tools import nvs

BLOB_IDX = 0x48


def test_device_key_is_a_blob_in_namespace_fmipkey():
    key = os.urandom(32)
    offset, size = nvs.partition()
    assert (offset, size) == (0x9000, 0x6000)    # where flash writes it: the table's nvs partition
    img = nvs.image(key)
    assert len(img) == size
    assert nvs.read_key(img) == key
    es = nvs.entries(img)
    idx = [d[0] for ns, t, k, d, _ in es if ns == 0 and k == fw_nvs.NAMESPACE]
    index = [d for ns, t, k, d, _ in es if ns == idx[0] and t == BLOB_IDX and k == fw_nvs.KEY]
    assert len(index) == 1 and struct.unpack("<I", index[0][:4])[0] == 32
    with pytest.raises(ValueError, match="no NVS blob other"):
        nvs.read_key(img, key="other")


def test_a_damaged_image_is_refused():
    img = bytearray(nvs.image(bytes(32)))
    at = img.index(fw_nvs.KEY.encode())
    img[at] ^= 1   # one bit of the key name: its entry's CRC no longer matches
    with pytest.raises(ValueError, match="CRC mismatch"):
        nvs.read_key(bytes(img))
