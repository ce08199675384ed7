# The AR on a hostile link (docs/hostile-link.md): limits per source, the replay cache, the
# verification and signing budgets and who they serve first, the CPA load mode, and who gets
# a key slot (min_sec, keys per link-layer address, eviction of provisional keys).
from arfix import ALL_ROUTERS, NOW, Node, cps, fbu, hk_reply, key, make_ar, prrtadv, rtsolpr
from fmipkey.wire import icmp6
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")
MAC_MN = b"\x02\x00\x00\x00\x00\x0b"
MAC_ATK = b"\x02\x00\x00\x00\x0a\x0c"


def other(i):
    """Another SEND node: the same key (fixtures are few), another Sec 0 CGA."""
    return Node("rsa1024_a.pem", bytes((i,)) * 16)


def answered(ar, pkt, now=NOW, mac=MAC_MN):
    out = ar.handle(pkt, now_at(now), mac)
    assert len(out) <= 1
    return prrtadv(out[0])[1] if out else None


def forged(n, now, ident=42):
    """An RtSolPr whose signature field was changed: its CGA option is valid, its signature not."""
    p = bytearray(rtsolpr(n, ALL_ROUTERS, HKEPK.public, now=now, nonce=b"FORGED", ident=ident))
    p[-10] ^= 0x55
    icmp6.set_checksum(memoryview(p)[40:], p[8:24], p[24:40])
    return bytes(p)


def test_a_replayed_rtsolpr_is_dropped_before_any_rsa_operation():
    ar = make_ar()
    p = rtsolpr(MN, ar.addr, HKEPK.public)
    assert hk_reply(answered(ar, p)) is not None
    for _ in range(3):
        assert answered(ar, p, NOW + 0.5) is None       # within the timestamp fuzz: only the cache sees it
    assert ar.counters["dropped.replay"] == 3 and ar.counters["prrtadv"] == 1
    assert not [k for k in ar.counters if k.startswith("rtsolpr.unverified")]


def test_one_source_cannot_take_the_budgets():
    ar = make_ar(source_rate=3)
    # forged requests from one MAC: three get verified (and fail), the rest cost nothing
    for i in range(20):
        answered(ar, forged(other(1), NOW + i / 1000, i), NOW + 0.02, MAC_ATK)
    assert ar.counters["dropped.rate.source"] == 17
    assert ar.counters["rtsolpr.unverified.signature"] == 3
    # and from one CGA behind many MACs: the limit per IPv6 source holds too
    for i in range(20):
        answered(ar, forged(other(2), NOW + i / 1000, i), NOW + 0.02, bytes((2, 0, 0, 1, 0, i)))
    assert ar.counters["dropped.rate.source"] == 34
    # the MN from its own MAC is served at once, key and all
    assert hk_reply(answered(ar, rtsolpr(MN, ar.addr, HKEPK.public, now=NOW + 0.02), NOW + 0.02)) is not None


def test_unsecured_requests_get_only_their_own_small_budget():
    ar = make_ar(max_unsecured_rate=2, source_rate=100)
    got = [answered(ar, rtsolpr(other(i), ALL_ROUTERS), NOW, bytes((2, 0, 0, 0, 1, i))) for i in range(10)]
    assert len([m for m in got if m is not None]) == 2 and ar.counters["dropped.rate.unsecured"] == 8
    # a failed verification is treated as unsecured (rfc3971 5.2.2): the same budget, now empty
    assert answered(ar, forged(other(20), NOW), NOW, MAC_ATK) is None
    assert ar.counters["dropped.rate.unsecured"] == 9
    # a verified request still has the signing budget
    assert hk_reply(answered(ar, rtsolpr(MN, ar.addr, HKEPK.public))) is not None


def test_mns_whose_keys_fbus_used_are_signed_for_first():
    ar = make_ar(max_prrtadv_rate=8, source_rate=100)     # 4 signatures kept for known MNs
    m = answered(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    k = ar.keystore.get(MN.addr, NOW)
    assert ar.handle(fbu(MN.addr, ar.addr, k[0], k[1]), now_at(NOW))      # the key is used now
    # new CGAs with valid requests take the budget down to the reserve, then are dropped
    served = [answered(ar, rtsolpr(other(i), ar.addr, HKEPK.public), NOW, bytes((2, 0, 0, 0, 2, i)))
              for i in range(10)]
    assert len([s for s in served if s is not None]) == 3 and ar.counters["dropped.rate"] == 7
    assert not [k for k in ar.counters if k.startswith("rtsolpr.unverified")]   # none verified in vain
    # the known MN still gets its PrRtAdv, with its key
    assert m is not None and hk_reply(answered(ar, rtsolpr(MN, ar.addr, HKEPK.public, nonce=b"NONCE2",
                                                        now=NOW + 0.01), NOW + 0.01)) is not None


def test_verifications_per_second_are_bounded():
    ar = make_ar(max_verify_rate=4, source_rate=100)
    for i in range(10):
        answered(ar, forged(other(i), NOW), NOW, bytes((2, 0, 0, 0, 3, i)))
    assert ar.counters["rtsolpr.unverified.signature"] == 4 and ar.counters["dropped.rate.verify"] == 6


def test_min_sec_refuses_a_key_to_a_sec_0_cga():
    ar = make_ar(min_sec=1)
    m = answered(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    assert m is not None and hk_reply(m) is None and ar.counters["keys.refused.sec"] == 1
    assert len(ar.keystore) == 0


def test_provisional_keys_per_link_layer_address():
    ar = make_ar(keys_per_lla=2, keys_per_pubkey=100, source_rate=100)
    for i in range(3):
        answered(ar, rtsolpr(other(i), ar.addr, HKEPK.public), NOW, MAC_ATK)
    assert len(ar.keystore) == 2 and ar.counters["keys.refused.per_lla"] == 1
    # a key an FBU has used no longer counts against its MAC
    c = other(0).addr
    k = ar.keystore.get(c, NOW)
    assert ar.handle(fbu(c, ar.addr, k[0], k[1]), now_at(NOW))
    assert hk_reply(answered(ar, rtsolpr(other(2), ar.addr, HKEPK.public, nonce=b"NONCE2", now=NOW + 0.01),
                             NOW + 0.01, MAC_ATK)) is not None


def test_a_full_store_evicts_the_oldest_provisional_key_for_a_new_mn():
    ar = make_ar(keystore_max=3, keys_per_pubkey=100, source_rate=100)
    for i in range(3):
        answered(ar, rtsolpr(other(i), ar.addr, HKEPK.public, now=NOW + i), NOW + i, bytes((2, 0, 0, 0, 4, i)))
    assert hk_reply(answered(ar, rtsolpr(MN, ar.addr, HKEPK.public, now=NOW + 5), NOW + 5)) is not None
    assert ar.counters["keys.evicted"] == 1 and ar.keystore.get(other(0).addr, NOW + 5) is None


def test_cps_flood_is_answered_by_paced_all_nodes_advertisements():
    ar = make_ar(max_cpa_rate=4)
    n_path = len(ar.certpath.path)
    sent = []
    for i in range(400):                    # 400 CPSs over 4 s from 400 sources
        now = NOW + i / 100
        src = bytes.fromhex("fe80000000000000") + bytes((0, 0, 0, 0, 0, 0, i >> 8, i & 0xFF))
        sent += [(now, p) for p in ar.handle(cps(src, ALL_ROUTERS, ident=i + 1), now_at(now))]
        sent += [(now, p) for p in ar.tick(now_at(now))]
    late = [p for t, p in sent if t >= NOW + 1]
    # under load only all-nodes advertisements, the whole path each time, at the CPA rate
    assert late and all(bytes(p[24:40]) == icmp6.ALL_NODES for p in late)
    assert len(late) // n_path >= 3 * 4 // n_path - 1 and len(sent) <= 4 * 5


def test_a_flood_of_new_cgas_cannot_take_the_verifications_of_known_mns():
    ar = make_ar(max_verify_rate=3, source_rate=100)
    answered(ar, rtsolpr(MN, ar.addr, HKEPK.public))
    k = ar.keystore.get(MN.addr, NOW)
    assert ar.handle(fbu(MN.addr, ar.addr, k[0], k[1]), now_at(NOW))      # MN's key is used now
    for i in range(10):
        answered(ar, forged(other(i), NOW + 0.01), NOW + 0.01, bytes((2, 0, 0, 0, 5, i)))
    assert ar.counters["dropped.rate.verify"] == 8              # 3 tokens: MN took one, forgers two
    assert hk_reply(answered(ar, rtsolpr(MN, ar.addr, HKEPK.public, nonce=b"NONCE2", now=NOW + 0.01),
                             NOW + 0.01)) is not None
