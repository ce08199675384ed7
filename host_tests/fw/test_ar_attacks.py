# What an attacker's packets can make an access router do or spend (issue 13): each one
# in, the refusal and its counter out, no key or binding changed.
import forge
from arfix import NCOA, NOW, Node, fbu, hk_reply, key, make_ar, rtsolpr
from fwtest import logged
from test_ar_hk import entries, exchange, refused
from test_exchange import link, pair
from fmipkey.crypto import rsa
from fmipkey.wire import mh
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")
ATTACKER = bytes.fromhex("fe800000000000000000000000000bad")


def test_forged_fbu_refused_without_badf():
    # The victim's PCoA and next sequence number, the authenticator junk: the refusal used
    # to carry a valid BADF under the victim's key, for the attacker to play to the MN.
    ar = make_ar()
    key0 = ar.keystore.issue(MN.addr, 0, NOW)[0]
    out = ar.handle(fbu(MN.addr, ar.addr, bytes(20), 0, seq=8, src=ATTACKER), now_at(NOW))
    assert len(out) == 1
    h, home, m = mh.parse_packet(out[0])
    assert bytes(h.dst) == ATTACKER and m.type == mh.FBACK and m.status == 129 and m.seq == 8
    assert m.badf is None
    assert ar.counters["fbu.rejected.badf"] == 1 and ar.bindings == {}
    assert ar.keystore.last_seq(MN.addr) is None and ar.keystore.get(MN.addr, NOW)[0] == key0


def test_mn_ignores_the_refusal_of_a_forged_fbu():
    # The whole attack: the MN's FBU is outstanding; the attacker forges one like it (same
    # PCoA, NCoA and sequence number) and plays the AR's answer to the MN from the PAR's address.
    ar, mn = pair(0)
    link(ar, mn, mn.start(now_at(NOW)), NOW)
    assert mn.state == "keyed"
    genuine = mn.fbu(ar.addr, NCOA, now_at(NOW + 1))
    seq = mh.parse_packet(genuine[0])[2].seq
    out = ar.handle(fbu(mn.addr, ar.addr, bytes(20), 0, seq=seq, src=ATTACKER), now_at(NOW + 1))
    refusal = mh.parse_packet(out[0])[2]
    assert refusal.status == 129 and ar.counters["fbu.rejected.badf"] == 1
    played = mh.packet(ar.addr, mn.addr, bytearray(refusal.raw), hlim=255)   # checksum redone for the MN
    assert mn.handle(played, now_at(NOW + 1)) == []
    assert mn.counters["dropped.badf"] == 1 and mn.state == "fbu-sent"
    link(ar, mn, genuine, NOW + 1)                # the genuine FBU still gets through
    assert mn.state == "done" and logged(mn.events)[-1][0] == "fbu-accepted"


def test_hkepk_exponent_checked_before_encryption():
    # A free Sec 0 CGA and an HKEPK of its key's size with a 7,200-bit exponent: 16 normal
    # encryptions' worth of work for the AR, at the sender's choice.
    n = HKEPK.n
    for e in ((1 << 7199) | 1, (1 << 32) + 1, 65536, 1):
        ar = make_ar()
        pkt = rtsolpr(MN, ar.addr, rsa.PublicKey(n, e))
        with forge.Spy(None, forbidden=[n, MN.key.n]):      # nor even the RtSolPr's signature check
            refused(ar, pkt)
        assert ar.counters["keys.refused.hkepk_exponent"] == 1, e
        assert logged(ar.events)[-1][0] == "hk-refused"
    ar = make_ar()                                 # the largest exponent allowed: 2^32 - 1
    assert hk_reply(exchange(ar, rtsolpr(MN, ar.addr, rsa.PublicKey(n, (1 << 32) - 1)))) is not None


def test_hkepk_size_bounded_before_verification():
    ar = make_ar()
    pkt = rtsolpr(MN, ar.addr, forge.big_key(6016, 65537))
    with forge.Spy(None, forbidden=[MN.key.n]):    # refused before the RtSolPr's signature check
        refused(ar, pkt)
    assert ar.counters["keys.refused.hkepk_size"] == 1


def test_key_handed_only_to_its_owner():
    # The CGA's key was issued to another public key (a second preimage of a Sec 0 address):
    # a request that verifies with this one gets no key, and the stored one stays.
    ar = make_ar()
    key0 = ar.keystore.issue(MN.addr, 0, NOW, b"\x01" * 8)[0]
    before = entries(ar)
    refused(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    assert ar.counters["keys.refused.owner"] == 1 and "keys.reused" not in ar.counters
    assert entries(ar) == before and ar.keystore.get(MN.addr, NOW)[0] == key0
    # its owner still gets it
    ar = make_ar()
    exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    k = ar.keystore.get(MN.addr, NOW)[0]
    m = exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, now=NOW + 5, nonce=b"NONCE2"), NOW + 5, b"NONCE2")
    assert rsa.decrypt(HKEPK, hk_reply(m)[2]) == bytes(k) and ar.counters["keys.reused"] == 1
