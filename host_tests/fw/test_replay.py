# A replayed message is refused, per message type (issue 12), and changes nothing: an RtSolPr
# at the AR (its replay cache, before any RSA operation), a PrRtAdv, a CPA and an FBack at the
# MN, and an FBU at the AR (its sequence number, kept with the key).
from arfix import NOW, Node, binding, fbu, hk_reply, key, make_ar, prrtadv, rtsolpr
from enginefuzz import new_mn, waiting_mn
from fakear import NCOA, FakeAR
from fmipkey.wire import mh
from test_mn_engine import mn_for
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")


def test_replayed_rtsolpr_dropped_before_verification():
    ar = make_ar()
    p = rtsolpr(MN, ar.addr, HKEPK.public)
    assert hk_reply(prrtadv(ar.handle(p, now_at(NOW))[0])[1]) is not None
    keys = list(ar.keystore.entries(NOW))
    # within the timestamp fuzz (which the RFC's timestamp check allows) and long after it
    for t in (NOW + 0.1, NOW + 1.5, NOW + 100):
        assert ar.handle(p, now_at(t)) == []
    assert ar.counters["dropped.replay"] == 3 and ar.counters["prrtadv"] == 1
    assert list(ar.keystore.entries(NOW)) == keys


def test_replayed_prrtadv_refused():
    ar = FakeAR()
    mn, out = mn_for(ar)
    adv = ar.prrtadv(out[0])
    mn.handle(adv, now_at(NOW + 1))
    keys = dict(mn.keys)
    assert mn.state == "keyed"
    assert mn.handle(adv, now_at(NOW + 1.5)) == [] and mn.counters["dropped.unexpected"] == 1
    # and to the MN's next request: its identifier and nonce are new, the replay's are not
    mn2, out2 = mn_for(ar)
    mn2.handle(adv, now_at(NOW + 1))
    c = mn2.counters
    assert mn2.state == "requesting" and c.get("dropped.identifier", 0) + c.get("dropped.nonce", 0) == 1
    assert not mn2.keys
    assert mn.keys == keys


def test_replayed_cpas_refused():
    ar, mn, seeds = waiting_mn()
    cpas = seeds[:-2]
    assert mn.state == "requesting"
    known, dropped = dict(mn.known), mn.counters.get("dropped.unexpected", 0)
    for p in cpas:                          # the path is validated: nothing is collected any more
        assert mn.handle(p, now_at(NOW + 1)) == []
    assert mn.state == "requesting" and mn.known == known
    assert mn.counters["dropped.unexpected"] == dropped + len(cpas)
    # to the MN's next CPS: its identifier is new, the replayed CPAs' is not
    mn2 = new_mn(ar, b"\x03" * 16)
    mn2.start(now_at(NOW + 2))
    for p in cpas:
        assert mn2.handle(p, now_at(NOW + 2)) == []
    assert mn2.state == "discovering" and mn2.counters["dropped.identifier"] == len(cpas)


def test_replayed_fbacks_refused():
    ar = FakeAR()
    mn, out = mn_for(ar)
    mn.handle(ar.prrtadv(out[0]), now_at(NOW + 1))
    f1 = mn.fbu(ar.addr, NCOA, now_at(NOW + 2))[0]
    ack = ar.fback(f1)
    mn.handle(ack, now_at(NOW + 2.1))
    assert mn.state == "done"
    mn.fbu(ar.addr, NCOA, now_at(NOW + 3))          # the next handover: the old FBack is not its answer
    assert mn.handle(ack, now_at(NOW + 3.1)) == [] and mn.state == "fbu-sent" and mn.counters["dropped.sequence"] == 1


def test_replayed_fbus_refused():
    ar = make_ar()
    k, at, _ = ar.keystore.issue(MN.addr, 0, NOW, bytes(8))
    ncoa2 = NCOA[:15] + b"\x78"
    f1, f2 = fbu(MN.addr, ar.addr, k, at, seq=1), fbu(MN.addr, ar.addr, k, at, seq=2, ncoa=ncoa2)
    assert _status(ar.handle(f1, now_at(NOW))) == 0 and _status(ar.handle(f2, now_at(NOW + 1))) == 0
    assert binding(ar, MN.addr)[0] == ncoa2
    # the older FBU again: refused (sequence number not newer), the binding stays
    assert _status(ar.handle(f1, now_at(NOW + 2))) == 128 and binding(ar, MN.addr)[0] == ncoa2
    # after a deregistration, neither comes back: no binding is made again
    assert _status(ar.handle(fbu(MN.addr, ar.addr, k, at, seq=3, lifetime=0), now_at(NOW + 3))) == 0
    for f in (f1, f2):
        assert _status(ar.handle(f, now_at(NOW + 4))) == 128 and MN.addr not in ar.bindings
    # and across a restart: the last accepted number is kept with the key
    assert ar.keystore.last_seq(MN.addr) == 3


def test_replayed_copy_of_the_last_accepted_fbu_refused():
    # rfc3775 11.8: a retransmission carries a greater number, so an exact copy of the last
    # accepted FBU is a replay, refused like any older one, though it would change nothing
    ar = make_ar()
    k, at, _ = ar.keystore.issue(MN.addr, 0, NOW, bytes(8))
    f = fbu(MN.addr, ar.addr, k, at, seq=7)
    assert _status(ar.handle(f, now_at(NOW))) == 0
    bound = binding(ar, MN.addr)
    assert bound[1] == NOW + 300
    ar.keystore_dirty = False                 # saved by the daemon
    table = b"".join(ar.keystore._pages)
    for t in (NOW + 1, NOW + 200):
        assert _status(ar.handle(f, now_at(t))) == 128
    assert ar.counters["fbu.rejected.seq"] == 2 and ar.counters["fbu.accepted"] == 1
    assert binding(ar, MN.addr) == bound                 # the lifetime is not renewed either
    assert b"".join(ar.keystore._pages) == table and not ar.keystore_dirty and ar.keystore.last_seq(MN.addr) == 7


def _status(out):
    assert len(out) == 1
    ip, home, m = mh.parse_packet(out[0])
    return m.status
