# The real AccessRouter and MobileNode over an in-memory link: CPS/CPA, RtSolPr/PrRtAdv
# with the handover key, FBU/FBack. RSA-1024 on both sides, AT 0 and 1.
from fwtest import logged
from fakear import NCOA, NOW, anchors, cfg, chain, cpa, identity, pool
from fmipkey import config
from fmipkey.crypto import der
from fmipkey.ar import AccessRouter
from fmipkey.keystore import KeyStore
from fmipkey.mn import MobileNode
from fmipkey.wire import mh
from fwtest import now_at

DEVICE_KEY = bytes(range(32))


def pair(at, router=True, ar_cfg=None, **kw):
    ar_id = identity("rsa1024_a.pem")            # the key cert_router.der certifies
    ar = AccessRouter(cfg(role="ar", **(ar_cfg or {})), ar_id, list(reversed(chain())), KeyStore(DEVICE_KEY))
    c = cfg(at=at, router=config.format_addr(ar_id.addr) if router else "", **kw)
    mn = MobileNode(c, identity("rsa1024_b.pem", modifier=b"\x02" * 16), anchors(), pool())
    return ar, mn


def link(ar, mn, out, now):
    """Deliver MN packets to the AR and back until both are quiet; returns the packet count."""
    n = 0
    while out:
        back = []
        for p in out:
            back.extend(ar.handle(p, now_at(now)))
        n += len(out) + len(back)
        out = []
        for p in back:
            out.extend(mn.handle(p, now_at(now)))
    return n


def exchange(at, router=True, forged=()):
    """The whole exchange; forged: packets the MN gets right after its CPS, before the AR's
    (what the MN sends in answer goes to the AR too)."""
    ar, mn = pair(at, router)
    out = mn.start(now_at(NOW))
    for p in forged:
        out += mn.handle(p, now_at(NOW))
    link(ar, mn, out, NOW)
    assert mn.state == "keyed", (mn.state, logged(mn.events), logged(ar.events))
    hk = mn.keys[(ar.addr, mn.addr)]
    key, got_at, expiry = hk.key, hk.at, hk.expiry
    assert (key, got_at) == ar.keystore.get(mn.addr, NOW)[:2] and got_at == at
    assert expiry == NOW + 43200
    link(ar, mn, mn.fbu(ar.addr, NCOA, now_at(NOW + 1)), NOW + 1)
    assert mn.state == "done" and logged(mn.events)[-1][0] == "fbu-accepted", (logged(mn.events), logged(ar.events))
    assert ar.counters["fbu.accepted"] == 1 and ar.bindings[mn.addr].ncoa == NCOA
    return ar, mn


def test_exchange_at0():
    exchange(0)


def test_exchange_at1():
    ar, mn = exchange(1)
    assert len(mn.keys[(ar.addr, mn.addr)].key) == 32


def test_exchange_all_routers():
    ar, mn = exchange(0, router=False)
    assert mn.router == ar.addr


def test_forged_all_nodes_cpa_first():
    # a junk all-nodes CPA from another address neither becomes the router nor stops the MN
    ar, mn = exchange(0, router=False, forged=[cpa(NCOA, 0, 1, 0, der.tlv(0x30, b"junk" * 40))])
    assert mn.router == ar.addr and mn.counters["path.invalid"] == 1


def test_replayed_genuine_cpas_first():
    # The AR's own path replayed from another address before the AR's CPAs: that certifies
    # the AR's key, the RtSolPr goes to all-routers, and the AR is the router.
    forged = [cpa(NCOA, 0, 2, c, cert) for c, cert in enumerate(chain())]
    ar, mn = exchange(0, router=False, forged=forged)
    assert mn.router == ar.addr and mn.counters["sent.rtsolpr"] == 1


def test_retransmitted_rtsolpr_is_not_a_replay():
    # The PrRtAdv to the first RtSolPr is lost. The AR (timestamp fuzz 0) takes the
    # retransmission because it is signed anew with a newer timestamp.
    ar, mn = pair(0, ar_cfg={"timestamp_fuzz": 0})
    sol = []
    for p in mn.start(now_at(NOW)):
        for q in ar.handle(p, now_at(NOW)):
            sol.extend(mn.handle(q, now_at(NOW)))
    assert len(sol) == 1 and len(ar.handle(sol[0], now_at(NOW))) == 1 and ar.counters["keys.issued"] == 1
    link(ar, mn, mn.tick(now_at(NOW + 0.1)), NOW + 0.1)
    assert mn.state == "keyed" and ar.counters["keys.reused"] == 1, (mn.counters, ar.counters)


def test_refresh_returns_the_same_key():
    ar, mn = exchange(0)
    key = mn.keys[(ar.addr, mn.addr)].key
    t = NOW + 43200 * 0.9
    link(ar, mn, mn.tick(now_at(t)), t)
    assert mn.counters["keys.received"] == 2 and ar.counters["keys.reused"] == 1
    hk = mn.keys[(ar.addr, mn.addr)]
    k2, at, expiry = hk.key, hk.at, hk.expiry
    assert k2 == key and expiry == NOW + 43200            # rfc5269 3.2: the existing key, its remaining life


def test_fbu_refused_without_key_at_ar():
    ar, mn = pair(0)
    link(ar, mn, mn.start(now_at(NOW)), NOW)
    ar.keystore.discard(mn.addr)
    link(ar, mn, mn.fbu(ar.addr, NCOA, now_at(NOW)), NOW)
    # the AR's refusal carries no BADF (it has no key): the MN does not trust it
    assert ar.counters["fbu.rejected.no_key"] == 1 and mn.counters["dropped.badf"] == 1
    assert mn.state == "fbu-sent" and mn.addr not in ar.bindings


def test_router_without_path_to_our_anchor():
    from fmipkey.crypto import x509
    from fwtest import data
    ar, _ = pair(0)
    other = [x509.parse(data("cert_router_wrong_eku.der"))]   # an anchor the AR has no path to
    mn = MobileNode(cfg(router=config.format_addr(ar.addr)), identity("rsa1024_b.pem"), other, pool())
    link(ar, mn, mn.start(now_at(NOW)), NOW)
    assert mn.counters["dropped.no_path"] == 1 and logged(mn.events)[-1][0] == "cpa-no-path"
    assert mn.state == "discovering" and "sent.rtsolpr" not in mn.counters



def test_restarted_mn_resynchronises_its_fbu_sequence():
    # The AR keeps the last accepted FBU number with the key, across MN restarts (replay
    # protection). A restarted MN numbering behind it is refused, then moves its number.
    for behind in (0, 1, 0x7FFF, 0x8000):      # 0: the number the AR accepted last, refused too
        ar, mn = exchange(0)
        again = MobileNode(mn.settings, identity("rsa1024_b.pem", modifier=b"\x02" * 16), anchors(), pool())
        again.fbus.seq = (mn.fbus.seq - behind - 1) & 0xFFFF      # its next FBU is numbered mn's - behind
        link(ar, again, again.start(now_at(NOW + 10)), NOW + 10)
        assert again.keys[(ar.addr, again.addr)].key == mn.keys[(ar.addr, mn.addr)].key   # the existing key
        moved = NCOA[:15] + bytes((NCOA[15] ^ 1,))          # a new binding
        link(ar, again, again.fbu(ar.addr, moved, now_at(NOW + 11)), NOW + 11)
        assert again.state == "done", (behind, logged(again.events), logged(ar.events))
        assert ar.counters["fbu.rejected.seq"] >= 1 and again.counters["fbu.resync"] == ar.counters["fbu.rejected.seq"]
        assert ar.bindings[again.addr].ncoa == moved and ar.counters["fbu.accepted"] == 2


def keyed_pair():
    ar, mn = pair(0)
    link(ar, mn, mn.start(now_at(NOW)), NOW)
    assert mn.state == "keyed"
    return ar, mn


def seq(pkt):
    return mh.parse_packet(pkt)[2].seq


def test_lost_fback_then_retransmission_accepted():
    ar, mn = keyed_pair()
    first = mn.fbu(ar.addr, NCOA, now_at(NOW + 1))
    lost = ar.handle(first[0], now_at(NOW + 1))            # accepted, its FBack lost
    again = mn.tick(now_at(NOW + 2))
    assert len(again) == 1 and seq(again[0]) == (seq(first[0]) + 1) & 0xFFFF     # rfc3775 11.8
    link(ar, mn, again, NOW + 2)
    assert mn.state == "done" and logged(mn.events)[-1][0] == "fbu-accepted"
    assert ar.counters["fbu.accepted"] == 2 and "fbu.rejected.seq" not in ar.counters
    assert ar.bindings[mn.addr].ncoa == NCOA and ar.keystore.last_seq(mn.addr) == seq(again[0])
    # the lost FBack arriving now answers nothing; the first FBU replayed is refused
    assert mn.handle(lost[0], now_at(NOW + 3)) == [] and mn.counters["dropped.unexpected"] == 1
    assert mh.parse_packet(ar.handle(first[0], now_at(NOW + 3))[0])[2].status == 128
    assert ar.counters["fbu.rejected.seq"] == 1 and ar.keystore.last_seq(mn.addr) == seq(again[0])


def test_late_fback_for_an_earlier_transmission_accepted():
    ar, mn = keyed_pair()
    first = mn.fbu(ar.addr, NCOA, now_at(NOW + 1))
    late = ar.handle(first[0], now_at(NOW + 1))            # the PAR is slow: the MN retransmits meanwhile
    fb2 = ar.handle(mn.tick(now_at(NOW + 2))[0], now_at(NOW + 2))
    assert mn.handle(late[0], now_at(NOW + 2.1)) == [] and mn.state == "done"
    assert mn.handle(fb2[0], now_at(NOW + 2.2)) == [] and mn.counters["dropped.unexpected"] == 1


def test_refusal_of_an_earlier_transmission_superseded():
    # reordered: the retransmission reaches the PAR first and is accepted, the first FBU is
    # then refused as not newer; that refusal does not end the exchange nor move the number
    ar, mn = keyed_pair()
    first = mn.fbu(ar.addr, NCOA, now_at(NOW + 1))
    fb2 = ar.handle(mn.tick(now_at(NOW + 2))[0], now_at(NOW + 2))
    fb1 = ar.handle(first[0], now_at(NOW + 2))
    assert mh.parse_packet(fb1[0])[2].status == 128
    assert mn.handle(fb1[0], now_at(NOW + 2.1)) == [] and mn.counters["dropped.superseded"] == 1
    assert mn.state == "fbu-sent" and "fbu.resync" not in mn.counters
    assert mn.handle(fb2[0], now_at(NOW + 2.2)) == [] and mn.state == "done"
