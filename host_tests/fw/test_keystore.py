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


def derived(i, at, nonce):
    # the documented derivation, from the device key with the primitives alone
    secret = hmac.digest("sha256", DEV, b"fmipkey handover keys")
    return hmac.digest("sha256", secret, cga(i) + bytes((at,)) + nonce)[:20 if at == 0 else 32]


def test_issue_get_both_algorithm_types():
    ks = KeyStore(DEV)
    k1, at1, e1 = ks.issue(cga(1), 0, T0)
    k2, at2, e2 = ks.issue(cga(2), 1, T0)
    assert (len(k1), at1, e1, len(k2), at2, e2) == (20, 0, T0 + 43200, 32, 1, T0 + 43200)
    assert ks.get(cga(1), T0 + 1) == (k1, 0, T0 + 43200)
    assert ks.get(memoryview(cga(2)), T0 + 1) == (k2, 1, T0 + 43200)
    assert ks.get(cga(3), T0) is None
    assert len(ks) == 2


def test_unknown_at_or_owner_length_refused():
    ks = KeyStore(DEV)
    raises(ValueError, ks.issue, cga(1), 2, T0)
    raises(ValueError, ks.issue, cga(1), 0, T0, b"short")
    assert len(ks) == 0


def test_device_key_must_be_32_octets():
    e = raises(ConfigError, KeyStore, DEV[:16])
    assert "32" in e.args[0]


def test_expiry_drops_key():
    ks = KeyStore(DEV, lifetime=100)
    k = ks.issue(cga(1), 0, T0)[0]
    assert ks.get(cga(1), T0 + 99)[0] == k
    assert ks.get(cga(1), T0 + 100) is None
    assert len(ks) == 0
    assert ks.get(cga(1), T0 + 1) is None  # gone, not merely hidden


def test_purge_counts_expired():
    ks = KeyStore(DEV, lifetime=100)
    ks.issue(cga(1), 0, T0)
    ks.issue(cga(2), 0, T0 + 50)
    assert ks.purge(T0 + 120) == 1
    assert len(ks) == 1 and ks.get(cga(2), T0 + 120) is not None
    assert ks.purge(T0 + 120) == 0


def test_full_store_evicts_the_oldest_provisional_key_never_a_used_one():
    ks = KeyStore(DEV, max_entries=3, lifetime=100)
    keys = [ks.issue(cga(i), 0, T0 + i)[0] for i in range(3)]
    ks.accept_seq(cga(0), 1)                  # cga(0)'s key authenticated an FBU: used
    assert ks.provisional(cga(1)) and not ks.provisional(cga(0))
    # full: the oldest provisional key (cga(1)) makes room, the used one stays
    assert ks.issue(cga(9), 0, T0 + 10)[2] == T0 + 110
    assert ks.evicted == 1 and len(ks) == 3 and ks.get(cga(1), T0 + 10) is None
    assert ks.get(cga(0), T0 + 10)[0] == keys[0] and ks.get(cga(2), T0 + 10)[0] == keys[2]
    # replacing an existing CGA's key (a stronger AT) is not a new entry
    assert ks.issue(cga(2), 1, T0 + 10)[2] == T0 + 110 and ks.evicted == 1
    # only used keys left: a new request is refused, every used key survives it
    ks.accept_seq(cga(2), 1)
    ks.accept_seq(cga(9), 1)
    assert ks.issue(cga(7), 0, T0 + 11) is None
    assert ks.refused == 1 and ks.evicted == 1 and len(ks) == 3
    # once cga(0) has expired, its slot takes the new key
    assert ks.issue(cga(7), 0, T0 + 100)[2] == T0 + 200
    assert ks.get(cga(0), T0 + 100) is None and len(ks) == 3 and ks.refused == 1


def test_a_flood_of_provisional_keys_leaves_every_used_key():
    ks = KeyStore(DEV, max_entries=8, lifetime=10000)
    used = []
    for i in range(4):
        used.append(ks.issue(cga(i), 0, T0)[0])
        ks.accept_seq(cga(i), 5)
    for i in range(100, 1100):                # 1,000 fresh CGAs ask one after another
        assert ks.issue(cga(i), 0, T0 + i) is not None   # ages to the second
    assert len(ks) == 8 and ks.evicted == 996 and ks.refused == 0
    for i in range(4):
        assert ks.get(cga(i), T0 + 2000)[0] == used[i] and ks.last_seq(cga(i)) == 5
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
        rec = ks.issue(cga(1), 0, T0)
        assert ks.last_seq(cga(1)) is None and ks.last_seq(cga(2)) is None
        ks.dirty = False
        ks.accept_seq(cga(1), 0xFFFF)
        assert ks.dirty and ks.last_seq(cga(1)) == 0xFFFF and ks.get(cga(1), T0) == rec
        raises(KeyError, ks.accept_seq, cga(2), 1)
        ks.save(path)
        back = KeyStore(DEV)
        back.load(path, T0 + 1)
        assert back.last_seq(cga(1)) == 0xFFFF and back.get(cga(1), T0 + 1) == rec
        back.issue(cga(1), 1, T0 + 2)     # a new key starts without one
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
        ks.issue(cga(1), 0, T0)
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
        ks.issue(cga(i), i % 2, T0 + i)
    return ks


def test_save_load_round_trip():
    path = tmp_path()
    try:
        saved = filled()
        saved.save(path)
        ks = KeyStore(DEV)
        ks.load(path, T0 + 10)
        assert len(ks) == 5 and not ks.dirty
        for i in range(5):
            k = saved.get(cga(i), T0 + 10)
            assert len(k[0]) == (32 if i % 2 else 20) and ks.get(cga(i), T0 + 10) == k == (k[0], i % 2, T0 + i + 43200)
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
            k = ks.get(cga(i), T0)[0]
            for j in range(len(k) - 5):
                assert k[j:j + 6] not in blob
    finally:
        cleanup(path)


def test_file_format_matches_documentation():
    # Open the file by hand with the crypto primitives, not with keystore.py.
    path = tmp_path()
    try:
        ks = KeyStore(DEV)
        ks.issue(cga(7), 1, T0, b"O" * 8)
        ks.accept_seq(cga(7), 0x1234)
        ks.save(path)
        with open(path, "rb") as f:
            blob = f.read()
    finally:
        cleanup(path)
    assert blob[:5] == b"FKKS\x03" and len(blob) == 17 + 39 + 32
    mac = hmac.digest("sha256", DEV, b"fmipkey keystore mac")
    assert hmac.digest("sha256", mac, backend.sha256(blob[:-32]).digest()) == blob[-32:]
    enc = hmac.digest("sha256", DEV, b"fmipkey keystore enc")
    nonce = blob[5:17]
    stream = backend.aes_ecb(enc).encrypt(b"".join(nonce + struct.pack(">I", i) for i in range(3)))
    plain = bytes(a ^ b for a, b in zip(blob[17:-32], stream))
    assert plain[:31] == cga(7) + b"\xc1" + struct.pack(">IH", T0 + 43200, 0x1234) + b"O" * 8
    assert ks.get(cga(7), T0)[0] == derived(7, 1, plain[31:])   # flags: used | seq set | AT 1


def test_other_format_version_refused_with_a_clear_error():
    ks, path = loaded_and_file()
    try:
        with open(path, "rb") as f:
            blob = bytearray(f.read())
        blob[4] = 1                               # a version 1 file (no sequence numbers)
        with open(path, "wb") as f:
            f.write(blob)
        e = raises(ParseError, ks.load, path, T0)
        assert "version 1" in e.args[0] and "version 3" in e.args[0]
        assert_unchanged(ks)
    finally:
        cleanup(path)


def loaded_and_file():
    path = tmp_path()
    filled().save(path)
    ks = KeyStore(DEV)
    ks.kept = ks.issue(cga(100), 0, T0)  # what must survive a refused load
    return ks, path


def assert_unchanged(ks):
    assert len(ks) == 1 and ks.get(cga(100), T0) == ks.kept and ks.kept[2] == T0 + 43200


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
        for n in (0, 5, 17, 48, 49, len(good) - 39, len(good) - 1):
            with open(path, "wb") as f:
                f.write(good[:n])
            e = raises(Exception, ks.load, path, T0)
            # a length that is no whole number of records is refused unread; else the MAC fails
            assert isinstance(e, VerifyError if n in (49, len(good) - 39) else ParseError), (n, e)
            assert_unchanged(ks)
        with open(path, "wb") as f:
            f.write(good + bytes(39))  # extended by a record
        raises(VerifyError, ks.load, path, T0)
        assert_unchanged(ks)
    finally:
        cleanup(path)


def test_wrong_device_key_refused_store_unchanged():
    ks, path = loaded_and_file()
    try:
        other = KeyStore(bytes(31) + b"\x01")
        k = other.issue(cga(100), 0, T0)
        e = raises(VerifyError, other.load, path, T0)
        assert "device key" in e.args[0]
        assert len(other) == 1 and other.get(cga(100), T0) == k and k != ks.get(cga(100), T0)
    finally:
        cleanup(path)


def test_too_many_live_keys_refused_store_unchanged():
    ks, path = loaded_and_file()
    try:
        small = KeyStore(DEV, max_entries=4)
        small.kept = small.issue(cga(100), 0, T0)
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
    ks.issue(b"A" * 16, 0, 1000)
    ks.issue(b"B" * 16, 1, 1050)
    got = sorted(ks.entries(1120))
    assert got == [(b"B" * 16, 1, 1150)]
    assert sorted(ks.entries(1000)) == [(b"A" * 16, 0, 1100), (b"B" * 16, 1, 1150)]


def test_table_and_index_agree_with_a_model():
    # Random issues, FBUs, discards and expiries on a small store (the index's probe runs
    # and its backward shifts, slots moving on removal), checked against a dict after each.
    import random
    random.seed(11)
    ks = KeyStore(DEV, max_entries=12, lifetime=40)
    model = {}                                  # cga index -> [key, at, expiry, seq]
    now = T0
    for step in range(1500):
        now += 1 + random.getrandbits(2)          # one key issued per second: no ties in age
        for c in [c for c in model if model[c][2] <= now]:
            del model[c]                        # what the store may drop lazily
        c = random.getrandbits(5)
        op = random.getrandbits(2)
        if op == 0:
            ks.discard(cga(c))
            model.pop(c, None)
        elif op == 1 and c in model:
            ks.accept_seq(cga(c), step & 0xFFFF)
            model[c][3] = step & 0xFFFF
        else:
            at = random.getrandbits(1)
            full = c not in model and len(model) >= 12
            got = ks.issue(cga(c), at, now)
            if got is None:
                assert full and all(m[3] is not None for m in model.values())
                continue
            if full:                            # the oldest provisional key made room
                old = min((m[2], o) for o, m in model.items() if m[3] is None)[1]
                del model[old]
            if c not in model or model[c][1] < at:
                model[c] = [got[0], at, now + 40, None]
            assert got == tuple(model[c][:3])
        live = dict((c, m) for c, m in model.items() if m[2] > now)
        assert sorted(ks.entries(now)) == sorted((cga(c), m[1], m[2]) for c, m in live.items())
        for c in range(32):
            assert ks.get(cga(c), now) == (tuple(live[c][:3]) if c in live else None), (step, c)
            assert ks.last_seq(cga(c)) == (live[c][3] if c in live else None)


def test_confirmed_means_live_and_used_by_an_fbu():
    ks = KeyStore(DEV)
    c = cga(1)
    assert not ks.confirmed(c, T0)                       # no key
    ks.issue(c, 1, T0)
    assert not ks.confirmed(c, T0) and ks.provisional(c)
    ks.accept_seq(c, 1)
    assert ks.confirmed(c, T0 + 1) and not ks.provisional(c)
    assert not ks.confirmed(c, T0 + ks.lifetime)         # expired
