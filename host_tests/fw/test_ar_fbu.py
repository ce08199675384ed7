# FBU at the PAR (rfc5269 3.5, rfc5568 6.2.2, 6.2.3, 6.4.5): the BADF is checked with the
# handover key of the care-of CGA in the Home Address option before any binding changes.
import os

from fwtest import logged
from arfix import NCOA, NOW, Node, binding, fbu, make_ar
from fmipkey.crypto import hmac
from fmipkey.wire import mh
from fwtest import now_at

MN = Node("rsa1024_b.pem")
NCOA2 = NCOA[:15] + b"\x78"


def keyed(at=0, **cfg):
    """An AR that issued MN a key of AT `at` (at NOW), and that key."""
    ar = make_ar(**cfg)
    return ar, ar.keystore.issue(MN.addr, at, NOW)[0]


def fback(ar, out, dst=MN.addr):
    """The parsed FBack the AR sent, its BADF (if any) recomputed here with crypto.hmac."""
    assert len(out) == 1
    h, home, m = mh.parse_packet(out[0])
    assert home is None and m.type == mh.FBACK and bytes(h.src) == ar.addr and bytes(h.dst) == dst
    assert mh.checksum_ok(m, h.src, h.dst)
    return m


def badf_ok(m, key, at, coa, par):
    alg, n = {0: ("sha1", 12), 1: ("sha256", 16)}[at]
    spi, s, e = m.badf
    return spi == 0 and e - s == n and bytes(m.raw[s:e]) == hmac.digest(alg, key, mh.mac_data(m.raw, s, coa, par))[:n]


def test_valid_fbu_sets_the_binding():
    for at in (0, 1):
        ar, key = keyed(at)
        m = fback(ar, ar.handle(fbu(MN.addr, ar.addr, key, at, seq=5), now_at(NOW)))
        assert m.status == 0 and m.seq == 5 and m.lifetime == 300 and badf_ok(m, key, at, NCOA, ar.addr)
        assert list(ar.bindings) == [MN.addr] and binding(ar, MN.addr) == (NCOA, NOW + 300)
        assert ar.counters["fbu.accepted"] == 1 and logged(ar.events)[-1][0] == "fbu-accepted"


def test_fbu_from_the_new_link():
    # source = NCoA, no Alternate CoA: the NCoA is the source, the FBack goes there
    ar, KEY0 = keyed()
    m, off = mh.Fbu.emit(1, 60, auth_len=12)
    m[off:] = hmac.digest("sha1", KEY0, mh.mac_data(m, off, NCOA, ar.addr))[:12]
    out = ar.handle(mh.packet(NCOA, ar.addr, m, home=MN.addr), now_at(NOW))
    assert fback(ar, out, NCOA).status == 0 and binding(ar, MN.addr) == (NCOA, NOW + 60)


def rejected(ar, pkt, status, reason, now=NOW, key=None, at=0, dst=MN.addr):
    m = fback(ar, ar.handle(pkt, now_at(now)), dst)
    assert m.status == status and m.lifetime == 0 and ar.bindings == {}
    assert ar.counters["fbu.rejected." + reason] == 1 and logged(ar.events)[-1][0] == "fbu-rejected"
    if key is None:
        assert m.badf is None
    else:
        assert badf_ok(m, key, at, NCOA, ar.addr)
    return m


def test_unknown_key():
    ar, KEY0 = keyed()
    other = Node("rsa1024_b.pem", bytes(15) + b"\x01")
    rejected(ar, fbu(other.addr, ar.addr, KEY0, 0), 129, "no_key", dst=other.addr)


def test_tampered_and_wrong_mac():
    ar, KEY0 = keyed()
    # refused without a BADF: an authenticator is made only for an FBU whose own verified (issue 13)
    rejected(ar, fbu(MN.addr, ar.addr, KEY0, 0, tamper=9), 129, "badf")     # lifetime octet
    ar, KEY0 = keyed()
    rejected(ar, fbu(MN.addr, ar.addr, bytes(20), 0), 129, "badf")
    ar, KEY1 = keyed(1)
    rejected(ar, fbu(MN.addr, ar.addr, KEY1, 0), 129, "badf")      # AT 0 MAC for an AT 1 key


def test_expired_key():
    ar, KEY0 = keyed()
    rejected(ar, fbu(MN.addr, ar.addr, KEY0, 0), 129, "no_key", now=NOW + 43200)
    assert len(ar.keystore) == 0


def test_missing_badf_and_home_address():
    ar, KEY0 = keyed()
    m, _ = mh.Fbu.emit(1, 300, alt_coa=NCOA, auth_len=0)
    rejected(ar, mh.packet(MN.addr, ar.addr, m, home=MN.addr), 129, "badf")
    ar, KEY0 = keyed()
    m, off = mh.Fbu.emit(1, 300, alt_coa=NCOA)
    m[off:] = hmac.digest("sha1", KEY0, mh.mac_data(m, off, NCOA, ar.addr))[:12]
    rejected(ar, mh.packet(MN.addr, ar.addr, m), 129, "no_home")


def test_sequence_numbers():
    ar, KEY0 = keyed()
    fback(ar, ar.handle(fbu(MN.addr, ar.addr, KEY0, 0, seq=0xFFFF), now_at(NOW)))
    m = fback(ar, ar.handle(fbu(MN.addr, ar.addr, KEY0, 0, seq=1, ncoa=NCOA2), now_at(NOW + 1)))   # wraps: newer
    assert m.status == 0 and binding(ar, MN.addr) == (NCOA2, NOW + 301)
    # the old FBU replayed: refused, binding kept
    m = fback(ar, ar.handle(fbu(MN.addr, ar.addr, KEY0, 0, seq=0xFFFF), now_at(NOW + 2)))
    assert m.status == 128 and binding(ar, MN.addr) == (NCOA2, NOW + 301)
    # an exact copy of the last accepted FBU: refused too (a retransmission carries a greater
    # number, rfc3775 11.8), the binding's lifetime not renewed
    m = fback(ar, ar.handle(fbu(MN.addr, ar.addr, KEY0, 0, seq=1, ncoa=NCOA2), now_at(NOW + 3)))
    assert m.status == 128 and m.seq == 1 and badf_ok(m, KEY0, 0, NCOA2, ar.addr)
    assert binding(ar, MN.addr) == (NCOA2, NOW + 301) and ar.counters["fbu.rejected.seq"] == 2
    # lifetime 0 removes the binding
    m = fback(ar, ar.handle(fbu(MN.addr, ar.addr, KEY0, 0, seq=2, lifetime=0), now_at(NOW + 4)))
    assert m.status == 0 and ar.bindings == {}


def test_bindings_expire_and_are_bounded():
    ar, KEY0 = keyed(keystore_max=1)
    fback(ar, ar.handle(fbu(MN.addr, ar.addr, KEY0, 0), now_at(NOW)))
    ar.keystore.discard(MN.addr)
    other = Node("rsa1024_b.pem", bytes(15) + b"\x01")
    KEY0 = ar.keystore.issue(other.addr, 0, NOW)[0]
    m = fback(ar, ar.handle(fbu(other.addr, ar.addr, KEY0, 0), now_at(NOW + 1)), other.addr)
    assert m.status == 130 and ar.counters["fbu.rejected.full"] == 1 and list(ar.bindings) == [MN.addr]
    assert ar.tick(now_at(NOW + 299)) == [] and MN.addr in ar.bindings
    ar.tick(now_at(NOW + 300))
    assert ar.bindings == {}
    assert fback(ar, ar.handle(fbu(other.addr, ar.addr, KEY0, 0), now_at(NOW + 301)), other.addr).status == 0


def test_not_ours_checksum_and_fback_ignored():
    ar, KEY0 = keyed()
    assert ar.handle(fbu(MN.addr, NCOA, KEY0, 0), now_at(NOW)) == [] and ar.counters["dropped.not_ours"] == 1
    p = bytearray(fbu(MN.addr, ar.addr, KEY0, 0))
    p[-1] ^= 1                                             # checksum no longer matches
    assert ar.handle(bytes(p), now_at(NOW)) == [] and ar.counters["dropped.checksum"] == 1
    m, _ = mh.Fback.emit(0, 1, 1, auth_len=0)
    assert ar.handle(mh.packet(MN.addr, ar.addr, m), now_at(NOW)) == [] and ar.counters["ignored"] == 1
    assert ar.bindings == {} and "fback" not in ar.counters


def accepted(ar, pkt, now, lifetime=300):
    m = fback(ar, ar.handle(pkt, now_at(now)))
    assert m.status == 0 and m.lifetime == lifetime
    return m


def test_replay_after_deregistration_refused():
    ar, KEY0 = keyed()
    old = fbu(MN.addr, ar.addr, KEY0, 0, seq=5)
    accepted(ar, old, NOW)
    dereg = fbu(MN.addr, ar.addr, KEY0, 0, seq=6, lifetime=0)
    accepted(ar, dereg, NOW + 1, 0)
    assert ar.bindings == {}
    rejected(ar, old, 128, "seq", now=NOW + 2, key=KEY0)
    # a copy of the deregistration is refused as well, though it would change nothing
    m = fback(ar, ar.handle(dereg, now_at(NOW + 3)))
    assert m.status == 128 and ar.counters["fbu.rejected.seq"] == 2
    assert ar.bindings == {} and ar.counters["fbu.accepted"] == 2 and ar.keystore.last_seq(MN.addr) == 6


def test_replay_after_binding_expiry_refused():
    ar, KEY0 = keyed()
    old = fbu(MN.addr, ar.addr, KEY0, 0, seq=5)
    accepted(ar, old, NOW)
    ar.tick(now_at(NOW + 300))
    assert ar.bindings == {}
    rejected(ar, old, 128, "seq", now=NOW + 301, key=KEY0)


def test_replay_after_restart_refused():
    path = "/tmp/fk_arfbu_%s" % "".join("%02x" % b for b in os.urandom(6))
    ar, KEY0 = keyed()
    old = fbu(MN.addr, ar.addr, KEY0, 0, seq=5)
    accepted(ar, old, NOW)
    assert ar.keystore_dirty      # the accepted sequence number is to be saved with the key
    try:
        ar.keystore.save(path)
        ar = make_ar()            # a new process: no bindings, the key store from the file
        ar.keystore.load(path, NOW + 10)
    finally:
        os.remove(path)
    rejected(ar, old, 128, "seq", now=NOW + 10, key=KEY0)
    accepted(ar, fbu(MN.addr, ar.addr, KEY0, 0, seq=6), NOW + 11)


def test_binding_lifetime_capped_at_the_key_lifetime():
    ar, KEY0 = keyed()
    accepted(ar, fbu(MN.addr, ar.addr, KEY0, 0, seq=1, lifetime=600), NOW + 43000, 200)
    assert binding(ar, MN.addr) == (NCOA, NOW + 43200)
