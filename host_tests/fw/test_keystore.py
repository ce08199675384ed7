# keystore.py: handover keys by CGA (rfc5269 3.2/3.6), bounds, expiry, sealed persistence.
import os
import struct

from fwtest import raises
from fmipkey.crypto import backend, hmac
from fmipkey.errors import ConfigError, ParseError, VerifyError
from fmipkey.keystore import KeyStore

DEV = bytes(range(32))
T0 = 1700000000


def cga(i):
    return b"\x20\x01\x0d\xb8\x00\x01\x00\x00" + struct.pack(">Q", i)


def key(i, n=20):
    # distinctive octets that cannot occur by chance in a file
    return bytes((0xA5 ^ i ^ (7 * j)) & 0xFF for j in range(n))


def tmp_path():
    return "/tmp/fk_ks_%s" % "".join("%02x" % b for b in os.urandom(6))


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def cleanup(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def test_put_get_both_algorithm_types():
    ks = KeyStore(DEV)
    assert ks.put(cga(1), key(1), 0, T0) == T0 + 43200
    assert ks.put(cga(2), key(2, 32), 1, T0 + 0.7) == T0 + 43200
    assert ks.get(cga(1), T0 + 1) == (key(1), 0, T0 + 43200)
    assert ks.get(memoryview(cga(2)), T0 + 1) == (key(2, 32), 1, T0 + 43200)
    assert ks.get(cga(3), T0) is None
    assert len(ks) == 2


def test_key_length_must_match_at():
    ks = KeyStore(DEV)
    raises(ValueError, ks.put, cga(1), key(1, 32), 0, T0)
    raises(ValueError, ks.put, cga(1), key(1, 20), 1, T0)
    raises(ValueError, ks.put, cga(1), key(1, 20), 2, T0)
    assert len(ks) == 0


def test_device_key_must_be_32_octets():
    e = raises(ConfigError, KeyStore, DEV[:16])
    assert "32" in e.args[0]


def test_expiry_drops_key():
    ks = KeyStore(DEV, lifetime=100)
    ks.put(cga(1), key(1), 0, T0)
    assert ks.get(cga(1), T0 + 99)[0] == key(1)
    assert ks.get(cga(1), T0 + 100) is None
    assert len(ks) == 0
    assert ks.get(cga(1), T0 + 1) is None  # gone, not merely hidden


def test_purge_counts_expired():
    ks = KeyStore(DEV, lifetime=100)
    ks.put(cga(1), key(1), 0, T0)
    ks.put(cga(2), key(2), 0, T0 + 50)
    assert ks.purge(T0 + 120) == 1
    assert len(ks) == 1 and ks.get(cga(2), T0 + 120) is not None
    assert ks.purge(T0 + 120) == 0


def test_full_store_evicts_the_oldest_provisional_key_never_a_used_one():
    ks = KeyStore(DEV, max_entries=3, lifetime=100)
    for i in range(3):
        assert ks.put(cga(i), key(i), 0, T0 + i) is not None
    ks.accept_seq(cga(0), 1)                  # cga(0)'s key authenticated an FBU: used
    assert ks.provisional(cga(1)) and not ks.provisional(cga(0))
    # full: the oldest provisional key (cga(1)) makes room, the used one stays
    assert ks.put(cga(9), key(9), 0, T0 + 10) == T0 + 110
    assert ks.evicted == 1 and len(ks) == 3 and ks.get(cga(1), T0 + 10) is None
    assert ks.get(cga(0), T0 + 10)[0] == key(0) and ks.get(cga(2), T0 + 10)[0] == key(2)
    # replacing an existing CGA's key is not a new entry
    assert ks.put(cga(2), key(5), 0, T0 + 10) == T0 + 110 and ks.evicted == 1
    # only used keys left: a new request is refused, every used key survives it
    ks.accept_seq(cga(2), 1)
    ks.accept_seq(cga(9), 1)
    assert ks.put(cga(7), key(7), 0, T0 + 11) is None
    assert ks.refused == 1 and ks.evicted == 1 and len(ks) == 3
    # once cga(0) has expired, its slot takes the new key
    assert ks.put(cga(7), key(7), 0, T0 + 100) == T0 + 200
    assert ks.get(cga(0), T0 + 100) is None and len(ks) == 3 and ks.refused == 1


def test_a_flood_of_provisional_keys_leaves_every_used_key():
    ks = KeyStore(DEV, max_entries=8, lifetime=10000)
    for i in range(4):
        ks.put(cga(i), key(i), 0, T0)
        ks.accept_seq(cga(i), 5)
    for i in range(100, 1100):                # 1,000 fresh CGAs ask one after another
        assert ks.put(cga(i), key(i & 0xFF), 0, T0 + i) is not None   # ages to the second
    assert len(ks) == 8 and ks.evicted == 996 and ks.refused == 0
    for i in range(4):
        assert ks.get(cga(i), T0 + 2000)[0] == key(i) and ks.last_seq(cga(i)) == 5
    for i in range(1096, 1100):               # the newest provisional keys are the ones kept
        assert ks.provisional(cga(i))


def test_issue_returns_existing_key_else_new_random_one():
    ks = KeyStore(DEV, max_entries=2)
    k1, at1, exp1 = ks.issue(cga(1), 0, T0)
    assert len(k1) == 20 and at1 == 0 and exp1 == T0 + 43200
    # same CGA later, same AT: the existing key (rfc5269 3.2)
    assert ks.issue(cga(1), 0, T0 + 5) == (k1, 0, exp1)
    k2, at2, _ = ks.issue(cga(2), 1, T0)
    assert len(k2) == 32 and at2 == 1 and k2[:20] != k1
    assert ks.issue(cga(2), 0, T0 + 5) == (k2, 1, T0 + 43200)   # a weaker AT asked: the stronger key
    ks.accept_seq(cga(1), 1)
    ks.accept_seq(cga(2), 1)
    assert ks.issue(cga(3), 0, T0) is None and ks.refused == 1


def test_issue_replaces_a_weaker_key_for_a_stronger_at():
    # rfc5269 3.2: the Reply's AT is the requested one or stronger, so an AT 0 key cannot answer AT 1
    ks = KeyStore(DEV, max_entries=1)
    k1, _, _ = ks.issue(cga(1), 0, T0)
    ks.accept_seq(cga(1), 9)
    k2, at2, exp2 = ks.issue(cga(1), 1, T0 + 5)
    assert len(k2) == 32 and at2 == 1 and exp2 == T0 + 5 + 43200 and k2[:20] != k1
    assert ks.get(cga(1), T0 + 6) == (k2, 1, exp2) and len(ks) == 1
    assert ks.last_seq(cga(1)) is None      # FBUs under the old key no longer verify: a fresh start


def test_fbu_sequence_number_kept_with_the_key():
    path = tmp_path()
    try:
        ks = KeyStore(DEV)
        ks.put(cga(1), key(1), 0, T0)
        assert ks.last_seq(cga(1)) is None and ks.last_seq(cga(2)) is None
        ks.dirty = False
        ks.accept_seq(cga(1), 0xFFFF)
        assert ks.dirty and ks.last_seq(cga(1)) == 0xFFFF and ks.get(cga(1), T0) == (key(1), 0, T0 + 43200)
        ks.save(path)
        back = KeyStore(DEV)
        back.load(path, T0 + 1)
        assert back.last_seq(cga(1)) == 0xFFFF and back.get(cga(1), T0 + 1) == (key(1), 0, T0 + 43200)
        back.put(cga(1), key(2), 0, T0 + 2)     # a new key starts without one
        assert back.last_seq(cga(1)) is None
    finally:
        cleanup(path)


def test_live_keys_counted_per_owner():
    ks = KeyStore(DEV, lifetime=100)
    a, b = b"A" * 8, b"B" * 8
    ks.issue(cga(1), 0, T0, a)
    ks.issue(cga(2), 1, T0 + 50, a)
    ks.issue(cga(3), 0, T0, b)
    assert ks.owned(a, T0) == 2 and ks.owned(b, T0) == 1 and ks.owned(b"C" * 8, T0) == 0
    assert ks.owned(a, T0 + 100) == 1          # expired keys do not count
    raises(ValueError, ks.put, cga(4), key(4), 0, T0, b"short")


def test_key_handed_only_to_its_owner():
    # Issue 13: a second public key verifying for the same CGA got the stored key.
    ks = KeyStore(DEV)
    a, b = b"A" * 8, b"B" * 8
    k1 = ks.issue(cga(1), 0, T0, a)
    ks.accept_seq(cga(1), 7)
    ks.dirty = False
    for at in (0, 1):                       # neither the key itself nor a stronger replacement
        e = raises(VerifyError, ks.issue, cga(1), at, T0 + 5, b)
        assert e.args[0] == "its handover key belongs to another public key"
    assert ks.get(cga(1), T0 + 5) == k1 and ks.last_seq(cga(1)) == 7 and not ks.dirty
    assert ks.issue(cga(1), 0, T0 + 5, a) == k1
    assert ks.issue(cga(1), 0, T0 + 43200, b)[0] != k1[0]    # expired: anyone's CGA again


def test_dirty_tracks_unsaved_changes():
    path = tmp_path()
    try:
        ks = KeyStore(DEV, lifetime=100)
        assert not ks.dirty
        ks.put(cga(1), key(1), 0, T0)
        assert ks.dirty
        ks.save(path)
        assert not ks.dirty
        ks.get(cga(1), T0 + 1)
        assert not ks.dirty
        ks.get(cga(1), T0 + 100)  # expired and dropped
        assert ks.dirty
    finally:
        cleanup(path)


def filled(n=5, **kw):
    ks = KeyStore(DEV, **kw)
    for i in range(n):
        ks.put(cga(i), key(i, 32 if i % 2 else 20), i % 2, T0 + i)
    return ks


def test_save_load_round_trip():
    path = tmp_path()
    try:
        filled().save(path)
        ks = KeyStore(DEV)
        ks.load(path, T0 + 10)
        assert len(ks) == 5 and not ks.dirty
        for i in range(5):
            assert ks.get(cga(i), T0 + 10) == (key(i, 32 if i % 2 else 20), i % 2, T0 + i + 43200)
        # an empty store round-trips too
        KeyStore(DEV).save(path)
        ks.load(path, T0)
        assert len(ks) == 0
    finally:
        cleanup(path)


def test_load_skips_expired_keys():
    path = tmp_path()
    try:
        filled(lifetime=100).save(path)
        ks = KeyStore(DEV)
        ks.load(path, T0 + 102)  # keys 0..2 expired at T0+100..T0+102
        assert len(ks) == 2 and ks.get(cga(3), T0 + 102) is not None
    finally:
        cleanup(path)


def test_file_reveals_no_key_bytes():
    path = tmp_path()
    try:
        ks = filled()
        ks.save(path)
        with open(path, "rb") as f:
            blob = f.read()
        for i in range(5):
            k = key(i, 32 if i % 2 else 20)
            for j in range(len(k) - 5):
                assert k[j:j + 6] not in blob
    finally:
        cleanup(path)


def test_file_format_matches_documentation():
    # Open the file by hand with the crypto primitives, not with keystore.py.
    path = tmp_path()
    try:
        ks = KeyStore(DEV)
        ks.put(cga(7), key(7), 0, T0)
        ks.save(path)
        with open(path, "rb") as f:
            blob = f.read()
    finally:
        cleanup(path)
    assert blob[:5] == b"FKKS\x02" and len(blob) == 17 + 51 + 32
    mac = hmac.digest("sha256", DEV, b"fmipkey keystore mac")
    assert hmac.digest("sha256", mac, backend.sha256(blob[:-32]).digest()) == blob[-32:]
    enc = hmac.digest("sha256", DEV, b"fmipkey keystore enc")
    nonce = blob[5:17]
    stream = backend.aes_ecb(enc).encrypt(b"".join(nonce + struct.pack(">I", i) for i in range(4)))
    plain = bytes(a ^ b for a, b in zip(blob[17:-32], stream))
    assert plain == cga(7) + b"\x00" + struct.pack(">I", T0 + 43200) + bytes(10) + key(7)


def test_other_format_version_refused_with_a_clear_error():
    ks, path = loaded_and_file()
    try:
        with open(path, "rb") as f:
            blob = bytearray(f.read())
        blob[4] = 1                               # a version 1 file (no sequence numbers)
        with open(path, "wb") as f:
            f.write(blob)
        e = raises(ParseError, ks.load, path, T0)
        assert "version 1" in e.args[0] and "version 2" in e.args[0]
        assert_unchanged(ks)
    finally:
        cleanup(path)


def loaded_and_file():
    path = tmp_path()
    filled().save(path)
    ks = KeyStore(DEV)
    ks.put(cga(100), key(100), 0, T0)  # what must survive a refused load
    return ks, path


def assert_unchanged(ks):
    assert len(ks) == 1 and ks.get(cga(100), T0) == (key(100), 0, T0 + 43200)


def test_tampered_file_refused_store_unchanged():
    ks, path = loaded_and_file()
    try:
        with open(path, "rb") as f:
            good = f.read()
        for pos in (0, 4, 5, 16, 17, 18, 40, len(good) // 2, len(good) - 33, len(good) - 32, len(good) - 1):
            bad = bytearray(good)
            bad[pos] ^= 0x01
            with open(path, "wb") as f:
                f.write(bad)
            e = raises(Exception, ks.load, path, T0)
            # the magic is checked first; every other flipped bit breaks the MAC
            assert isinstance(e, ParseError if pos < 5 else VerifyError), (pos, e)
            assert_unchanged(ks)
    finally:
        cleanup(path)


def test_truncated_file_refused_store_unchanged():
    ks, path = loaded_and_file()
    try:
        with open(path, "rb") as f:
            good = f.read()
        for n in (0, 5, 17, 48, len(good) - 41, len(good) - 1):
            with open(path, "wb") as f:
                f.write(good[:n])
            e = raises(Exception, ks.load, path, T0)
            assert isinstance(e, ParseError if n < 49 else VerifyError), (n, e)
            assert_unchanged(ks)
        with open(path, "wb") as f:
            f.write(good + b"\x00")  # extended
        raises(VerifyError, ks.load, path, T0)
        assert_unchanged(ks)
    finally:
        cleanup(path)


def test_wrong_device_key_refused_store_unchanged():
    ks, path = loaded_and_file()
    try:
        other = KeyStore(bytes(31) + b"\x01")
        other.put(cga(100), key(100), 0, T0)
        e = raises(VerifyError, other.load, path, T0)
        assert "device key" in e.args[0]
        assert len(other) == 1 and other.get(cga(100), T0)[0] == key(100)
    finally:
        cleanup(path)


def test_too_many_live_keys_refused_store_unchanged():
    ks, path = loaded_and_file()
    try:
        small = KeyStore(DEV, max_entries=4)
        small.put(cga(100), key(100), 0, T0)
        raises(ParseError, small.load, path, T0)
        assert_unchanged(small)
        small.load(path, T0 + 43200)  # once key 0 has expired, the other four fit
        assert len(small) == 4
    finally:
        cleanup(path)


def test_failed_save_leaves_old_file_intact():
    path = tmp_path()
    try:
        filled(2).save(path)
        with open(path, "rb") as f:
            old = f.read()
        os.mkdir(path + ".tmp")  # the new file cannot be written
        ks = filled(4)
        raises(OSError, ks.save, path)
        assert ks.dirty and exists(path + ".tmp")  # the directory, untouched
        with open(path, "rb") as f:
            assert f.read() == old
        os.rmdir(path + ".tmp")
        back = KeyStore(DEV)
        back.load(path, T0)
        assert len(back) == 2
        ks.save(path)  # and it replaces the file once writing works
        back.load(path, T0)
        assert len(back) == 4
        assert not exists(path + ".tmp")
    finally:
        cleanup(path)


def test_entries_lists_live_keys_without_key_bytes():
    ks = KeyStore(bytes(32), 8, 100)
    ks.put(b"A" * 16, b"k" * 20, 0, 1000)
    ks.put(b"B" * 16, b"m" * 32, 1, 1050)
    got = sorted(ks.entries(1120))
    assert got == [(b"B" * 16, 1, 1150)]
    assert sorted(ks.entries(1000)) == [(b"A" * 16, 0, 1100), (b"B" * 16, 1, 1150)]
