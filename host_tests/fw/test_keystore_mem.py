# keystore.py RAM budget: at most 256 octets per stored key on MicroPython (gc.mem_alloc deltas).
import gc
import os

import fwtest

from fmipkey.keystore import KeyStore

PREFIX = b"\x20\x01\x0d\xb8\x00\x01\x00\x00"


def fill(ks, n, at, keylen):
    # CGAs as on a real link: the interface identifier is a SHA-1 output, so random here
    for i in range(n):
        assert ks.put(PREFIX + os.urandom(8), os.urandom(keylen), at, 1700000000) is not None


def per_key(n, at, keylen):
    ks = KeyStore(bytes(32), max_entries=n)
    gc.collect()
    before = gc.mem_alloc()
    fill(ks, n, at, keylen)
    gc.collect()
    return (gc.mem_alloc() - before) / n


def test_ram_per_key_within_budget():
    if not hasattr(gc, "mem_alloc"):
        fwtest.skip("MicroPython only: CPython's object sizes say nothing about a board's RAM")
    for at, keylen in ((0, 20), (1, 32)):
        for n in (256, 2000):
            b = per_key(n, at, keylen)
            print("keystore RAM: AT %d, %d keys: %.1f octets/key" % (at, n, b))
            assert b <= 256, b


def test_two_thousand_keys_all_found():
    # (more keys are measured with a bigger heap: growing the dict needs one contiguous block)
    ks = KeyStore(bytes(32), max_entries=2000)
    cgas = [PREFIX + (i * 2654435761 % (1 << 64)).to_bytes(8, "big") for i in range(2000)]
    for i, c in enumerate(cgas):
        ks.put(c, bytes([i & 0xFF]) * 20, 0, 1700000000)
    assert len(ks) == 2000
    for i in range(0, 2000, 7):
        assert ks.get(cgas[i], 1700000001)[0] == bytes([i & 0xFF]) * 20
    assert ks.get(PREFIX + bytes(7) + b"\x01", 1700000001) is None
