# keystore.py RAM budget on MicroPython (gc.mem_alloc deltas): the whole store, table and
# index allocated when it is made (the table in small pages), at most 64 octets per key;
# storing keys allocates nothing that stays, so a fragmented heap cannot make it fail.
import gc
import os

import fwtest

from fmipkey.keystore import KeyStore

PREFIX = b"\x20\x01\x0d\xb8\x00\x01\x00\x00"
T0 = 1700000000


def fill(ks, n):
    # CGAs as on a real link: the interface identifier is a SHA-1 output, so random here
    for i in range(n):
        assert ks.issue(PREFIX + os.urandom(8), i & 1, T0) is not None


def mp_only():
    if not hasattr(gc, "mem_alloc"):
        fwtest.skip("MicroPython only: CPython's object sizes say nothing about a board's RAM")


def test_ram_per_key_within_budget():
    mp_only()
    for n in (256, 2000):
        gc.collect()
        before = gc.mem_alloc()
        ks = KeyStore(bytes(32), max_entries=n)
        fill(ks, n)
        gc.collect()
        b = (gc.mem_alloc() - before) / n
        print("keystore RAM: %d keys, the store made and filled: %.1f octets/key" % (n, b))
        assert len(ks) == n and b <= 64, b
        del ks


def test_filling_allocates_nothing_that_stays_even_on_a_fragmented_heap():
    mp_only()
    ks = KeyStore(bytes(32), max_entries=500)
    holes = [bytearray(48) for _ in range(2000)]
    for i in range(0, 2000, 2):             # every other block freed: no large free block in between
        holes[i] = None
    gc.collect()
    before = gc.mem_alloc()
    fill(ks, 500)
    for i in range(300):                    # churn: expiry, eviction and removal move slots
        ks.discard(ks.entries(T0)[i][0])
        ks.issue(PREFIX + os.urandom(8), 1, T0 + 1)
    gc.collect()
    assert len(ks) == 500 and gc.mem_alloc() - before < 256, gc.mem_alloc() - before
    del holes


def test_made_and_filled_where_no_free_block_exceeds_1536_octets():
    # A board's heap after its imports: plenty free, but in holes (the issue's measurement:
    # largest free block 1.5 KB). The table is allocated in pages, so the store still fits.
    mp_only()
    blocks = []
    try:
        while True:
            blocks.append(bytearray(1536))
    except MemoryError:
        pass
    for i in range(0, len(blocks), 2):
        blocks[i] = None
    gc.collect()
    try:
        ks = KeyStore(bytes(32), max_entries=256)
        fill(ks, 256)
        made = len(ks)
    except MemoryError:
        made = None
    del blocks
    gc.collect()
    assert made == 256


def test_two_thousand_keys_all_found():
    ks = KeyStore(bytes(32), max_entries=2000)
    cgas = [PREFIX + (i * 2654435761 % (1 << 64)).to_bytes(8, "big") for i in range(2000)]
    keys = {}
    for i, c in enumerate(cgas):
        k = ks.issue(c, 0, T0)[0]
        if i % 7 == 0:
            keys[i] = k
    assert len(ks) == 2000 and len(set(keys.values())) == len(keys)
    for i in keys:
        assert ks.get(cgas[i], T0 + 1)[0] == keys[i]
    assert ks.get(PREFIX + bytes(7) + b"\x01", T0 + 1) is None
