# The AR's handover key provisioning (rfc5269 3.2): RtSolPr with a Handover Key
# Request -> signed PrRtAdv with the key encrypted under the HKEPK; and every way a
# request can fail, each answered by a signed PrRtAdv without a Reply, no key touched.
from fwtest import logged
from arfix import ALL_ROUTERS, NOW, Node, hk_reply, ip, key, make_ar, prrtadv, rtsolpr
from fmipkey import send
from fmipkey.crypto import der, rsa
from fmipkey.badf import key_len
from fmipkey.wire import fmip, icmp6, ndopt
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")


def exchange(ar, pkt, now=NOW, nonce=b"NONCE1", mn=MN):
    out = ar.handle(pkt, now_at(now))
    assert len(out) == 1
    h, m = prrtadv(out[0])
    assert bytes(h.src) == ar.addr and bytes(h.dst) == mn.addr
    # signed by the AR's CGA key, echoing the Nonce; the Identifier is echoed
    v = send.verify(m, h.src, h.dst, now_at(now), nonce=nonce)
    assert v.key == ar.id.key.public and v.sec == 0
    assert m.identifier == 42
    return m


def entries(ar):
    return sorted((bytes(c), a, e) for c, a, e in ar.keystore.entries(NOW))


def test_reply_decrypts_to_the_stored_key():
    ar = make_ar()
    m = exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, at=0))
    at, life, enc = hk_reply(m)
    k = rsa.decrypt(HKEPK, enc)
    stored = ar.keystore.get(MN.addr, NOW)
    assert stored is not None and k == bytes(stored[0]) and len(k) == key_len(0)
    assert at == 0 and stored[1] == 0 and life == 43200 == stored[2] - NOW
    assert ar.keystore_dirty and ar.counters["keys.issued"] == 1
    assert ("hk-issued" in [e[0] for e in logged(ar.events)])


def test_to_all_routers_and_same_key_again():
    ar = make_ar()
    m = exchange(ar, rtsolpr(MN, ALL_ROUTERS, HKEPK.public))
    k1 = rsa.decrypt(HKEPK, hk_reply(m)[2])
    ar.keystore_dirty = False
    # a later request (fresh timestamp and nonce) gets the existing key with its remaining lifetime
    m = exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, now=NOW + 100, nonce=b"NONCE2"), NOW + 100,
                 b"NONCE2")
    at, life, enc = hk_reply(m)
    assert rsa.decrypt(HKEPK, enc) == k1 and life == 43100
    assert not ar.keystore_dirty and ar.counters["keys.reused"] == 1


def test_different_cga_different_key():
    ar = make_ar()
    other = Node("rsa1024_b.pem", bytes(15) + b"\x01")       # same key, another CGA
    assert other.addr != MN.addr
    k1 = rsa.decrypt(HKEPK, hk_reply(exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public)))[2])
    k2 = rsa.decrypt(HKEPK, hk_reply(exchange(ar, rtsolpr(other, ar.addr, HKEPK.public), mn=other))[2])
    assert k1 != k2 and len(ar.keystore) == 2


def test_at_negotiation():
    for asked, got in ((0, 0), (1, 1), (7, 1), (15, 1)):
        ar = make_ar()
        at, life, enc = hk_reply(exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, at=asked)))
        assert at == got and len(rsa.decrypt(HKEPK, enc)) == key_len(got)
        assert ar.keystore.get(MN.addr, NOW)[1] == got


def test_rsa2048_exchange():
    ar = make_ar()
    mn = Node("rsa2048_a.pem")
    hkepk = key("rsa2048_b.pem")
    at, life, enc = hk_reply(exchange(ar, rtsolpr(mn, ar.addr, hkepk.public, at=1), mn=mn))
    assert len(enc) == 256 and rsa.decrypt(hkepk, enc) == bytes(ar.keystore.get(mn.addr, NOW)[0])


def test_source_lla_option():
    ar = make_ar(mac=b"\x02\x00\x00\x00\x00\x09")
    m = exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    s, e = m.opts[0][1], m.opts[0][2]
    assert m.opts[0][0] == ndopt.FMIP_LLA
    code, lla = ndopt.parse_fmip_lla(m.raw, s, e)
    assert code == ndopt.LLA_SOURCE and bytes(lla[:6]) == b"\x02\x00\x00\x00\x00\x09"


def refused(ar, pkt, now=NOW, nonce=b"NONCE1", mn=MN):
    """The AR answers pkt with a signed PrRtAdv without a Reply and changes no key."""
    before = entries(ar)
    dirty = ar.keystore_dirty
    m = exchange(ar, pkt, now, nonce, mn)
    assert hk_reply(m) is None
    assert entries(ar) == before and ar.keystore_dirty == dirty
    return m


def unverified(ar, reason):
    return ar.counters.get("rtsolpr.unverified." + reason, 0)


def test_forged_signature():
    ar = make_ar()
    pkt = bytearray(rtsolpr(MN, ar.addr, HKEPK.public))
    pkt[-20] ^= 1                      # inside the signature; checksum then fixed up below
    h = icmp6.IPv6(pkt)
    refused(ar, ip(bytes(h.src), bytes(h.dst), bytearray(h.payload)))
    assert unverified(ar, "signature") == 1
    # signed with another key under the MN's key hash
    refused(ar, rtsolpr(MN, ar.addr, HKEPK.public, signer=key("rsa1024_a.pem"), nonce=b"NONCE2"),
            nonce=b"NONCE2")
    assert unverified(ar, "signature") == 2


def test_forged_request_never_replaces_a_key():
    ar = make_ar()
    k1 = rsa.decrypt(HKEPK, hk_reply(exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public)))[2])
    attacker = key("rsa1024_a.pem")
    refused(ar, rtsolpr(MN, ar.addr, attacker.public, signer=attacker, now=NOW + 5, nonce=b"NONCE3"),
            NOW + 5, b"NONCE3")
    assert bytes(ar.keystore.get(MN.addr, NOW)[0]) == k1


def test_cga_mismatch_and_unknown_key_hash():
    ar = make_ar()
    other = Node("rsa1024_a.pem")
    refused(ar, rtsolpr(MN, ar.addr, HKEPK.public, params=other.params, spki=other.spki, signer=other.key))
    assert unverified(ar, "cga") == 1
    # the RSA Signature names a key that is not the CGA key
    refused(ar, rtsolpr(MN, ar.addr, HKEPK.public, signer=other.key, spki=other.spki))
    assert unverified(ar, "key_hash") == 1


def test_missing_nonce():
    ar = make_ar()
    body = fmip.RtSolPr.emit(42, ndopt.fmip_lla(1, b"\x02\x00\x00\x00\x01\x01")
                        + ndopt.hk_request(0, der.encode_spki(HKEPK.public)))
    msg = send.message(MN.addr, ar.addr, body, MN.key, cga_params=MN.params, now=now_at(NOW))
    refused(ar, icmp6.ipv6_header(MN.addr, ar.addr, 58, len(msg)) + bytes(msg), nonce=None)
    assert unverified(ar, "no_nonce") == 1


def test_replayed_and_stale_timestamps():
    ar = make_ar()
    old = rtsolpr(MN, ar.addr, HKEPK.public)
    exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, now=NOW + 10, nonce=b"NONCE2"), NOW + 10, b"NONCE2")
    # the earlier message replayed after a newer one was accepted
    refused(ar, old, NOW + 10)
    assert unverified(ar, "timestamp_replay") == 1
    # a first message from a peer, outside the 300 s window
    ar = make_ar()
    refused(ar, rtsolpr(MN, ar.addr, HKEPK.public), NOW + 301)
    assert unverified(ar, "timestamp_window") == 1


def test_configured_timestamp_window_is_enforced():
    # 60 s of clock skew: inside the RFC default window of 300 s, outside a configured 30 s one
    exchange(make_ar(), rtsolpr(MN, make_ar().addr, HKEPK.public), NOW + 60, b"NONCE1")
    ar = make_ar(timestamp_delta=30)
    refused(ar, rtsolpr(MN, ar.addr, HKEPK.public), NOW + 60)
    assert unverified(ar, "timestamp_window") == 1


def test_hkepk_must_match_the_cga_key():
    ar = make_ar()
    refused(ar, rtsolpr(MN, ar.addr, key("rsa2048_b.pem").public))          # 2048 HKEPK, 1024 CGA key
    refused(ar, rtsolpr(MN, ar.addr, MN.key.public))                         # the CGA key itself
    # same octet length, fewer bits: "exactly the same parameters" (rfc5269 3.1) counts bits
    short = rsa.PublicKey((1 << 1016) | 0xFFFF, 65537)
    assert short.size == MN.key.public.size
    refused(ar, rtsolpr(MN, ar.addr, short))
    assert ar.counters["keys.refused.hkepk_size"] == 3
    body = fmip.RtSolPr.emit(42, ndopt.fmip_lla(1, b"\x02\x00\x00\x00\x01\x01") + ndopt.hk_request(0, b"\x30\x03garbage"))
    msg = send.message(MN.addr, ar.addr, body, MN.key, cga_params=MN.params, now=now_at(NOW), nonce=b"NONCE1")
    refused(ar, icmp6.ipv6_header(MN.addr, ar.addr, 58, len(msg)) + bytes(msg))
    assert ar.counters["keys.refused.hkepk"] == 1


def test_key_size_limits():
    ar = make_ar(rsa_max_bits=1024)
    mn = Node("rsa2048_a.pem")
    refused(ar, rtsolpr(mn, ar.addr, key("rsa1024_a.pem").public), mn=mn)   # an HKEPK within the bounds
    assert unverified(ar, "key_size") == 1


def test_keystore_full():
    ar = make_ar(keystore_max=1)
    exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    ar.keystore.accept_seq(MN.addr, 1)      # an FBU used it: a new request cannot evict it
    other = Node("rsa1024_b.pem", bytes(15) + b"\x01")
    refused(ar, rtsolpr(other, ar.addr, HKEPK.public), mn=other)
    assert ar.counters["keys.refused.full"] == 1 and ar.keystore.get(other.addr, NOW) is None
    # once the first key expired there is room again
    m = exchange(ar, rtsolpr(other, ar.addr, HKEPK.public, now=NOW + 43200), NOW + 43200, mn=other)
    assert hk_reply(m) is not None and ar.keystore.get(MN.addr, NOW + 43200) is None


def test_existing_key_upgraded_for_a_stronger_at():
    # rfc5269 3.2: the existing key is returned when its AT is the one asked or stronger; a verified
    # request for a stronger AT gets a new key of that AT (an AT 0 key would be a downgrade)
    ar = make_ar()
    k0 = rsa.decrypt(HKEPK, hk_reply(exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, at=0)))[2])
    at, life, enc = hk_reply(exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, at=1, now=NOW + 1, nonce=b"NONCE2"),
                                      NOW + 1, b"NONCE2"))
    k1 = rsa.decrypt(HKEPK, enc)
    assert at == 1 and len(k1) == 32 and k1[:20] != k0 and life == 43200
    assert ar.keystore.get(MN.addr, NOW + 1) == (k1, 1, NOW + 1 + 43200) and len(ar.keystore) == 1
    # a weaker request later: the stronger existing key, unchanged
    at, life, enc = hk_reply(exchange(ar, rtsolpr(MN, ar.addr, HKEPK.public, at=0, now=NOW + 2, nonce=b"NONCE3"),
                                      NOW + 2, b"NONCE3"))
    assert at == 1 and rsa.decrypt(HKEPK, enc) == k1 and life == 43199
    assert ar.counters["keys.issued"] == 2 and ar.counters["keys.reused"] == 1


def test_live_keys_per_public_key_are_capped():
    # Sec 0 CGAs are free to mint from one RSA key: it gets keys_per_pubkey keys, the store stays open
    ar = make_ar(keys_per_pubkey=2)
    cgas = [Node("rsa1024_b.pem", bytes(15) + bytes([i])) for i in range(3)]
    for n in cgas[:2]:
        assert hk_reply(exchange(ar, rtsolpr(n, ar.addr, HKEPK.public), mn=n)) is not None
    refused(ar, rtsolpr(cgas[2], ar.addr, HKEPK.public), mn=cgas[2])
    assert ar.counters["keys.refused.per_key"] == 1 and len(ar.keystore) == 2
    # a CGA that has a key still gets it; another public key gets its own
    assert hk_reply(exchange(ar, rtsolpr(cgas[0], ar.addr, HKEPK.public, now=NOW + 1, nonce=b"NONCE2"), NOW + 1,
                             b"NONCE2", mn=cgas[0])) is not None
    other = Node("rsa1024_a.pem", bytes(15) + b"\x07")
    assert hk_reply(exchange(ar, rtsolpr(other, ar.addr, HKEPK.public), mn=other)) is not None
    # once the first keys expired, the public key may have new ones
    later = NOW + 43200
    m = exchange(ar, rtsolpr(cgas[2], ar.addr, HKEPK.public, now=later), later, mn=cgas[2])
    assert hk_reply(m) is not None


def test_unsigned_rtsolpr_gets_a_signed_answer_without_key():
    ar = make_ar()
    out = ar.handle(rtsolpr(MN, ar.addr), now_at(NOW))
    h, m = prrtadv(out[0])
    v = send.verify(m, h.src, h.dst, now_at(NOW))
    assert v.key == ar.id.key.public and hk_reply(m) is None and m.find(ndopt.NONCE) is None
    assert len(ar.keystore) == 0
