# MobileNode timers: RtSolPr backoff and rate limit (rfc5568 6.1.1), CPS retries (rfc3971 6.4.6),
# key refresh before HK-LIFETIME, HKEPK rotation (rfc5269 3.1), FBU retransmission.
from fwtest import logged
from fakear import NCOA, NOW, FakeAR, anchors, cfg, icmp, identity, key, pool
from fmipkey import config, send
from fmipkey.crypto import der
from fmipkey.mn import MobileNode
from fmipkey.wire import fmip, ndopt
from fwtest import now_at

T = NOW + 0.0


def node(ar, hkepks=None, **kw):
    c = cfg(router=config.format_addr(ar.addr), **kw)
    mn = MobileNode(c, identity("rsa1024_b.pem", modifier=b"\x02" * 16), anchors(),
                    pool() if hkepks is None else hkepks)
    out = []
    for p in ar.cpas(mn.start(now_at(T))[0]):
        out = mn.handle(p, now_at(T))
    return mn, out


def sol_info(pkt):
    """(identifier, nonce, HK Request key) of an RtSolPr."""
    m = fmip.parse(icmp(pkt)[1])
    o = m.find(ndopt.NONCE)
    n = bytes(ndopt.parse_nonce(m.raw, o[0], o[1]))
    o = m.find(ndopt.HK_REQUEST)
    return m.identifier, n, bytes(ndopt.parse_hk_request(m.raw, o[0], o[1])[1])


def same_solicitation(pkts, first):
    """pkts is one RtSolPr: the same identifier, nonce and HK Request as first."""
    assert len(pkts) == 1 and sol_info(pkts[0]) == sol_info(first)
    return True


def spki(name):
    return der.encode_spki(key(name).public)


def test_rtsolpr_backoff_then_failed():
    ar = FakeAR()
    mn, out = node(ar, rtsolpr_retries=3, max_rtsolpr_rate=10)
    first = out[0]
    assert mn.tick(now_at(T + 0.099)) == []
    for at in (0.101, 0.302, 0.703):             # 100, 200, 400 ms after the previous send
        assert mn.tick(now_at(T + at - 0.002)) == []
        assert same_solicitation(mn.tick(now_at(T + at)), first)
    assert mn.counters["resent.rtsolpr"] == 3 and mn.counters["sent.rtsolpr"] == 4
    assert mn.tick(now_at(T + 1.502)) == [] and mn.state == "requesting"
    assert mn.tick(now_at(T + 1.503)) == [] and mn.state == "failed"
    assert logged(mn.events)[-1][0] == "rtsolpr-timeout"
    assert mn.handle(ar.prrtadv(first), now_at(T + 1.6)) == [] and mn.keys == {}


def test_rtsolpr_rate_limit():
    # MAX_RTSOLPR_RATE is a token bucket: one per second here, so the retransmission due
    # 100 ms after the first RtSolPr waits for the next token, a second after it.
    ar = FakeAR()
    mn, out = node(ar, rtsolpr_retries=3, max_rtsolpr_rate=1)
    assert mn.tick(now_at(T + 0.1001)) == []                    # a 2nd within one second: held back
    assert mn.tick(now_at(T + 0.999)) == [] and "resent.rtsolpr" not in mn.counters
    assert same_solicitation(mn.tick(now_at(T + 1.0001)), out[0])
    assert mn.tick(now_at(T + 1.9)) == []                       # due at 1.2, the next token at 2.0
    assert same_solicitation(mn.tick(now_at(T + 2.0002)), out[0])
    assert mn.counters["resent.rtsolpr"] == 2 and mn.state == "requesting"


def test_rtsolpr_retransmissions_signed_afresh():
    # Each retransmission carries a newer Timestamp: an AR whose timestamp cache accepted the
    # previous copy (fuzz 0) accepts it, where an identical copy would be a replay.
    ar = FakeAR()
    mn, out = node(ar, rtsolpr_retries=3, max_rtsolpr_rate=10)
    cache = send.Timestamps(fuzz=0)
    sent = [(out[0], T)]
    for at in (0.1, 0.3, 0.7):
        sent.append((mn.tick(now_at(T + at))[0], T + at))
    last = 0
    for pkt, t in sent:
        ip, raw = icmp(pkt)
        v = send.verify(fmip.parse(raw), ip.src, ip.dst, now_at(t), timestamps=cache, solicitation=True)
        assert v.timestamp > last and sol_info(pkt) == sol_info(out[0])
        last = v.timestamp
    assert send.ts_units(T + 0.7) == last
    # one nonce for all copies: the PrRtAdv answering the first is accepted
    mn.handle(ar.prrtadv(out[0], now=T + 0.8), now_at(T + 0.8))
    assert mn.state == "keyed"


def test_zero_retries_fails_after_first_timeout():
    ar = FakeAR()
    mn, out = node(ar, rtsolpr_retries=0)
    assert mn.tick(now_at(T + 0.1)) == [] and mn.state == "failed"


def test_cps_retransmitted_then_abandoned():
    ar = FakeAR()
    mn = MobileNode(cfg(router=config.format_addr(ar.addr)), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(T))
    t = T
    for wait in (1, 2, 4):
        assert mn.tick(now_at(t + wait - 0.01)) == []
        t += wait
        assert mn.tick(now_at(t)) == cps
    # abandoned CPS_RETRY_MAX (15 s) after the first
    assert mn.tick(now_at(T + 14.99)) == [] and mn.state == "discovering"
    assert mn.tick(now_at(T + 15)) == [] and mn.state == "failed" and logged(mn.events)[-1][0] == "cps-timeout"


def keyed(ar, lifetime=100, **kw):
    mn, out = node(ar, **kw)
    mn.handle(ar.prrtadv(out[0], lifetime=lifetime, now=T), now_at(T))
    assert mn.state == "keyed"
    return mn, out


def test_new_key_requested_before_lifetime_ends():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=100)
    old = ar.key
    assert mn.tick(now_at(T + 89.9)) == []
    again = mn.tick(now_at(T + 90))
    assert len(again) == 1 and mn.state == "keyed"
    i0, n0, k0 = sol_info(out[0])
    i1, n1, k1 = sol_info(again[0])
    assert n1 != n0 and k1 == k0 == spki("rsa1024_pkcs8.pem")   # fresh nonce, same HKEPK
    assert mn.keys[(ar.addr, mn.addr)].key == old
    mn.handle(ar.prrtadv(again[0], lifetime=100, now=T + 90), now_at(T + 90))
    hk = mn.keys[(ar.addr, mn.addr)]
    assert (hk.key, hk.at, hk.expiry) == (ar.key, 0, T + 190) and ar.key != old


def test_refresh_unanswered_keeps_key():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=100, rtsolpr_retries=0)
    mn.tick(now_at(T + 90))
    assert mn.tick(now_at(T + 90.2)) == [] and mn.state == "keyed"
    assert logged(mn.events)[-1][0] == "rtsolpr-timeout" and (ar.addr, mn.addr) in mn.keys


def handover(mn, ar, t):
    fbu = mn.fbu(ar.addr, NCOA, now_at(t))[0]
    ar.check_fbu(fbu)
    mn.handle(ar.fback(fbu), now_at(t))
    assert mn.state == "done"


def test_hkepk_replaced_after_hkepk_handovers():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=100, hkepk_handovers=2)
    handover(mn, ar, T + 1)
    handover(mn, ar, T + 2)
    assert mn.keyreq.hkepk.handovers == 2
    again = mn.tick(now_at(T + 90))
    assert sol_info(again[0])[2] == spki("rsa1024_a.pem")     # the next 1024-bit pool key
    assert ("hkepk-retired", "handover key encryption key pair replaced") in logged(mn.events)
    mn.handle(ar.prrtadv(again[0], now=T + 90), now_at(T + 90))       # decrypted with the new pair
    assert mn.keys[(ar.addr, mn.addr)].key == ar.key and mn.counters["hkepk.used"] == 2


def test_hkepk_kept_below_limits():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=100, hkepk_handovers=2)
    handover(mn, ar, T + 1)
    assert sol_info(mn.tick(now_at(T + 90))[0])[2] == spki("rsa1024_pkcs8.pem")


def test_hkepk_replaced_after_hkepk_lifetime():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=100, hkepk_lifetime=90)
    assert sol_info(mn.tick(now_at(T + 90))[0])[2] == spki("rsa1024_a.pem")


def test_hkepk_pool_exhausted():
    ar = FakeAR()
    # only a key of another size and the CGA key itself: neither may serve
    mn, out = node(ar, hkepks=[key("rsa2048_a.pem"), key("rsa1024_b.pem")])
    assert out == [] and mn.state == "failed"
    assert logged(mn.events)[-1][0] == "hkepk-exhausted" and "provision more" in logged(mn.events)[-1][1]
    # one usable key, used up after one handover
    mn, out = keyed(ar, lifetime=100, hkepk_handovers=1, hkepks=[key("rsa1024_pkcs8.pem")])
    handover(mn, ar, T + 1)
    assert mn.tick(now_at(T + 90)) == [] and mn.state == "failed" and logged(mn.events)[-1][0] == "hkepk-exhausted"


def test_fbu_retransmitted_then_failed():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=1000, fbu_retries=2)
    fbu = mn.fbu(ar.addr, NCOA, now_at(T + 1))
    assert mn.tick(now_at(T + 1.99)) == []
    sent = fbu + mn.tick(now_at(T + 2)) + mn.tick(now_at(T + 4))
    # rfc3775 11.8: each retransmission with the next sequence number, its BADF made afresh
    # (checked here with an independent HMAC), otherwise the same FBU
    ip0, home0, m0 = ar.check_fbu(sent[0])
    for i, p in enumerate(sent):
        ip, home, m = ar.check_fbu(p)
        assert m.seq == (m0.seq + i) & 0xFFFF and m.lifetime == m0.lifetime
        assert bytes(m.alt_coa) == NCOA and bytes(home) == bytes(home0) and bytes(ip.dst) == ar.addr
    assert len(sent) == 3 and mn.counters["resent.fbu"] == 2 and mn.counters["sent.fbu"] == 1
    assert mn.tick(now_at(T + 7.99)) == [] and mn.state == "fbu-sent"
    assert mn.tick(now_at(T + 8)) == [] and mn.state == "failed" and logged(mn.events)[-1][0] == "fbu-timeout"
    assert mn.tick(now_at(T + 900)) == [] and mn.state == "failed"       # no key refresh after failing


def test_expired_key_not_used():
    ar = FakeAR()
    mn, out = keyed(ar, lifetime=100)
    assert mn.fbu(ar.addr, NCOA, now_at(T + 100)) == [] and mn.state == "failed"
