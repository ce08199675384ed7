# Certification path discovery at the AR (rfc3971 6.4.1, 6.4.2, 6.4.5): one certificate per
# CPA from the anchor end, solicited-node or all-nodes destination, MAX_CPA_RATE pacing.
from arfix import ALL_ROUTERS, NOW, Node, cps, ip, make_ar
from fwtest import data, logged
from fmipkey.crypto import x509
from fmipkey.wire import certpath, icmp6, ndopt
from fwtest import now_at

MN = Node("rsa1024_b.pem")
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ROOT = x509.parse(data("cert_root.der"))
CA = x509.parse(data("cert_ca.der"))


def solicited(a):
    return bytes.fromhex("ff0200000000000000000001ff") + a[13:]


def cpas(out):
    """[(dst, identifier, all, component, anchors, cert DER or None)] of the AR's packets."""
    res = []
    for p in out:
        h = icmp6.IPv6(p)
        assert h.hlim == 255 and icmp6.checksum_ok(h.payload, h.src, h.dst)
        m = certpath.parse(h.payload)
        assert m.type == certpath.ICMP_CPA and m.sig < 0          # CPAs are not SEND-signed
        tas = [bytes(ndopt.parse_trust_anchor(m.raw, s, e)[1]) for s, e in m.find_all(ndopt.TRUST_ANCHOR)]
        o = m.find(ndopt.CERTIFICATE)
        cert = bytes(ndopt.parse_certificate(m.raw, o[0], o[1])[1]) if o else None
        res.append((bytes(h.dst), m.identifier, m.all_components, m.component, tas, cert))
    return res


def test_whole_path_from_the_anchor_end():
    ar = make_ar()
    got = cpas(ar.handle(cps(MN.addr, ALL_ROUTERS, 7, anchors=[bytes(ROOT.subject)]), now_at(NOW)))
    d = solicited(MN.addr)
    assert got == [(d, 7, 2, 1, [bytes(ROOT.subject)], data("cert_ca.der")),
                   (d, 7, 2, 0, [], data("cert_router.der"))]
    # what arrived validates to the AR's own key
    leaf = x509.validate_path([g[5] for g in got], [ROOT], NOW)
    assert leaf.public_key == ar.id.key.public
    assert ar.counters["cpa"] == 2 and logged(ar.events)[-1][0] == "cpa-sent"


def test_no_anchor_named_and_to_our_address():
    got = cpas(make_ar().handle(cps(MN.addr, make_ar().addr), now_at(NOW)))
    assert [g[3] for g in got] == [1, 0] and got[0][4] == [bytes(ROOT.subject)]


def test_intermediate_anchor_shortens_the_path():
    got = cpas(make_ar().handle(cps(MN.addr, ALL_ROUTERS, anchors=[b"\x30\x00", bytes(CA.subject)]), now_at(NOW)))
    assert got == [(solicited(MN.addr), 7, 1, 0, [bytes(CA.subject)], data("cert_router.der"))]


def test_unknown_anchor_gets_no_certificates():
    got = cpas(make_ar().handle(cps(MN.addr, ALL_ROUTERS, anchors=[b"\x30\x02\x31\x00"]), now_at(NOW)))
    assert got == [(solicited(MN.addr), 7, 0, 0, [b"\x30\x02\x31\x00"], None)]


def test_one_component():
    got = cpas(make_ar().handle(cps(MN.addr, ALL_ROUTERS, component=1), now_at(NOW)))
    assert got == [(solicited(MN.addr), 7, 2, 1, [bytes(ROOT.subject)], data("cert_ca.der"))]
    ar = make_ar()
    assert ar.handle(cps(MN.addr, ALL_ROUTERS, component=2), now_at(NOW)) == []
    assert ar.counters["dropped.cps_component"] == 1


def test_unspecified_source_answered_to_all_nodes():
    got = cpas(make_ar().handle(cps(bytes(16), ALL_ROUTERS), now_at(NOW)))
    assert [(g[0], g[1], g[3]) for g in got] == [(ALL_NODES, 0, 1), (ALL_NODES, 0, 0)]


def test_rate_limit_paces_to_all_nodes():
    ar = make_ar(max_cpa_rate=3)
    assert len(ar.handle(cps(MN.addr, ALL_ROUTERS), now_at(NOW))) == 2
    # over the rate: the answer goes to all-nodes, identifier 0, as the budget allows
    got = cpas(ar.handle(cps(MN.addr, ALL_ROUTERS, 8), now_at(NOW + 0.1)))
    assert [(g[0], g[1], g[3]) for g in got] == [(ALL_NODES, 0, 1)]
    assert ar.handle(cps(MN.addr, ALL_ROUTERS, 9), now_at(NOW + 0.2)) == []       # coalesced
    assert ar.tick(now_at(NOW + 0.3)) == []                 # a token bucket: 3 per second, 0.9 saved up
    got = cpas(ar.tick(now_at(NOW + 0.34)))
    assert [(g[0], g[1], g[3]) for g in got] == [(ALL_NODES, 0, 0)]
    assert ar.tick(now_at(NOW + 3)) == [] and ar.counters["cpa"] == 4 and ar.counters["cpa.deferred"] == 1


def test_invalid_solicitations_dropped():
    ar = make_ar()
    bad_id = cps(MN.addr, ALL_ROUTERS, ident=0)
    assert ar.handle(bad_id, now_at(NOW)) == [] and ar.counters["dropped.cps_format"] == 1
    p = bytearray(cps(MN.addr, ALL_ROUTERS))
    p[41] = 1                                            # Code 1
    assert ar.handle(ip(MN.addr, ALL_ROUTERS, p[40:]), now_at(NOW)) == [] and ar.counters["dropped.cps_format"] == 2
    p = bytearray(cps(MN.addr, ALL_ROUTERS))
    p[7] = 64                                            # hop limit
    assert ar.handle(bytes(p), now_at(NOW)) == [] and ar.counters["dropped.hop_limit"] == 1
    assert ar.handle(cps(MN.addr, ALL_NODES), now_at(NOW)) == [] and ar.counters["dropped.not_ours"] == 1
    assert ar.handle(cps(ALL_NODES, ALL_ROUTERS), now_at(NOW)) == [] and ar.counters["dropped.source"] == 1
    assert "cpa" not in ar.counters
