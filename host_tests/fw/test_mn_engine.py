# The mobile node engine against a test-side AR (fakear.py): CPS -> CPA -> path validation ->
# RtSolPr -> PrRtAdv -> handover key -> FBU -> FBack, and every rejection on the way.
from fakear import NCOA, NOW, FakeAR, anchors, cfg, chain, cpa, icmp, identity, key, mint, pool
from fwtest import data, logged
from fmipkey import send
from fmipkey.crypto import der, x509
from fmipkey.wire.icmp6 import ALL_ROUTERS
from fmipkey.mn import MAX_KEYS, MAX_PATH, MAX_SOURCES, MobileNode
from fmipkey.wire import certpath, fmip, mh, ndopt
from fwtest import now_at


JUNK = der.tlv(0x30, b"junk" * 40)     # a DER SEQUENCE, no certificate
AR_KEY = key("rsa1024_a.pem").public   # the key cert_router.der certifies


def mn_for(ar, certs=None, **kw):
    """A MobileNode (rsa1024_b CGA) that has sent its CPS to ar and got ar's CPAs; returns
    (mn, the packets it sent after the last CPA)."""
    c = cfg(router=_text(ar.addr), **kw)
    mn = MobileNode(c, identity("rsa1024_b.pem", modifier=b"\x02" * 16), anchors(), pool())
    if certs is not None:
        ar.certs = certs
    cps = mn.start(now_at(NOW))
    out = []
    for p in ar.cpas(cps[0]):
        out = mn.handle(p, now_at(NOW))
    return mn, out


def _text(addr):
    from fmipkey import config
    return config.format_addr(addr)


def test_cps_to_router_with_trust_anchor():
    ar = FakeAR()
    mn = MobileNode(cfg(router=_text(ar.addr)), identity("rsa1024_b.pem"), anchors(), pool())
    out = mn.start(now_at(NOW))
    assert mn.state == "discovering" and len(out) == 1
    ip, raw = icmp(out[0])
    assert bytes(ip.dst) == ar.addr and bytes(ip.src) == mn.addr
    m = certpath.parse(raw)
    assert raw[0] == certpath.ICMP_CPS and m.identifier != 0 and m.component == 65535
    o = m.find(ndopt.TRUST_ANCHOR)
    nt, name = ndopt.parse_trust_anchor(m.raw, o[0], o[1])
    assert nt == ndopt.NAME_DER and bytes(name) == bytes(anchors()[0].subject)
    # no router configured: all-routers
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    assert bytes(icmp(mn.start(now_at(NOW))[0])[0].dst) == ALL_ROUTERS


def test_rtsolpr_after_valid_path():
    ar = FakeAR()
    mn, out = mn_for(ar)
    assert mn.state == "requesting" and len(out) == 1
    assert logged(mn.events)[0][0] == "path-valid" and list(mn.known.values()) == [AR_KEY]
    ip, raw = icmp(out[0])
    assert bytes(ip.src) == mn.addr and bytes(ip.dst) == ar.addr
    m = fmip.parse(raw)
    assert m.subtype == fmip.RTSOLPR
    v = send.verify(m, ip.src, ip.dst, now_at(NOW), solicitation=True)   # signed by the MN's CGA key
    assert v.key == key("rsa1024_b.pem").public and len(v.nonce) == 6
    o = m.find(ndopt.FMIP_LLA)
    assert ndopt.parse_fmip_lla(m.raw, o[0], o[1])[0] == ndopt.LLA_WILDCARD
    o = m.find(ndopt.HK_REQUEST)
    at, spki = ndopt.parse_hk_request(m.raw, o[0], o[1])
    # the first pool key of the CGA key's size (rsa2048_a skipped)
    assert at == 0 and bytes(spki) == der.encode_spki(key("rsa1024_pkcs8.pem").public)


def happy(at):
    ar = FakeAR()
    mn, out = mn_for(ar, at=at)
    assert mn.handle(ar.prrtadv(out[0], lifetime=600), now_at(NOW + 1)) == []
    assert mn.state == "keyed" and mn.counters["keys.received"] == 1
    hk = mn.keys[(ar.addr, mn.addr)]
    assert list(mn.keys) == [(ar.addr, mn.addr)] and (hk.key, hk.at, hk.expiry) == (ar.key, at, NOW + 601)
    out = mn.fbu(ar.addr, NCOA, now_at(NOW + 2))
    assert mn.state == "fbu-sent" and len(out) == 1
    ip, home, m = ar.check_fbu(out[0])                      # BADF recomputed independently
    assert bytes(ip.src) == mn.addr and bytes(home) == mn.addr and bytes(m.alt_coa) == NCOA
    assert m.flags & mh.FLAG_A and m.flags & mh.FLAG_H
    assert mn.handle(ar.fback(out[0]), now_at(NOW + 2.1)) == []
    assert mn.state == "done" and logged(mn.events)[-1][0] == "fbu-accepted"


def test_happy_path_at0():
    happy(0)


def test_happy_path_at1():
    happy(1)


def test_stronger_at_from_ar_is_used():
    ar = FakeAR()
    mn, out = mn_for(ar, at=0)
    mn.handle(ar.prrtadv(out[0], at=1), now_at(NOW))
    assert mn.keys[(ar.addr, mn.addr)].at == 1
    ar.check_fbu(mn.fbu(ar.addr, NCOA, now_at(NOW))[0])


def rejected(counter, **knobs):
    ar = FakeAR()
    mn, out = mn_for(ar, at=knobs.pop("want_at", 0))
    assert mn.handle(ar.prrtadv(out[0], **knobs), now_at(NOW)) == []
    assert mn.counters.get("dropped." + counter) == 1, mn.counters
    assert mn.keys == {} and mn.state == "requesting"
    # the outstanding RtSolPr still stands: the genuine answer is taken afterwards
    mn.handle(ar.prrtadv(out[0]), now_at(NOW))
    assert mn.state == "keyed"
    return mn


def test_prrtadv_from_uncertified_key():
    # Validly signed with the CGA option of the AR's own address, but that CGA is made from
    # another key than the certified one.
    ar = FakeAR(ident=identity("rsa1024_pkcs8.pem"))
    mn, out = mn_for(ar)
    assert mn.handle(ar.prrtadv(out[0]), now_at(NOW)) == []
    assert mn.counters["dropped.uncertified"] == 1 and mn.keys == {}
    assert ("prrtadv-rejected", "PrRtAdv from an uncertified key") in logged(mn.events)


def test_prrtadv_signed_by_other_cga():
    # Another node's CGA key signing from the AR's address: the CGA check fails.
    mn = rejected("send", signer=identity("rsa1024_pkcs8.pem"))
    assert logged(mn.events)[-2][0] == "prrtadv-rejected"


def test_prrtadv_wrong_nonce():
    rejected("nonce", nonce=b"NONCE9")


def test_prrtadv_wrong_identifier():
    rejected("identifier", ident=7)


def test_prrtadv_forged_signature():
    rejected("send", flip=12)       # an octet of the HK Reply changed after signing


def test_prrtadv_weaker_or_unknown_at():
    rejected("at", want_at=1, at=0)
    rejected("at", at=5)


def test_prrtadv_undecryptable_key():
    rejected("decrypt", enc=bytes(128))


def test_prrtadv_from_other_source():
    ar = FakeAR()
    mn, out = mn_for(ar)
    other = FakeAR(ident=identity("rsa1024_a.pem", modifier=b"\x05" * 16))   # same key, other address
    assert mn.handle(other.prrtadv(out[0]), now_at(NOW)) == []
    assert mn.counters["dropped.source"] == 1 and mn.keys == {}


def discovery_ends(mn):
    """A bad path is not final: the MN keeps discovering until the CPS timeout, then fails."""
    assert mn.state == "discovering" and mn.counters["path.invalid"] == 1
    for t in (1, 3, 7):
        assert len(mn.tick(now_at(NOW + t))) == 1                 # CPS retransmissions
    assert mn.tick(now_at(NOW + 15)) == [] and mn.state == "failed" and logged(mn.events)[-1][0] == "cps-timeout"
    assert "sent.rtsolpr" not in mn.counters and mn.tick(now_at(NOW + 100)) == []


def path_fails(router_cert, why):
    ar = FakeAR()
    mn, out = mn_for(ar, certs=chain(router_cert))
    assert out == [] and mn.router == ar.addr and mn.known == {}
    assert logged(mn.events)[-1][0] == "path-invalid" and why in logged(mn.events)[-1][1], logged(mn.events)
    discovery_ends(mn)


def test_path_prefix_outside_issuer():
    path_fails("cert_router_outside.der", "outside its issuer")


def test_path_expired():
    path_fails("cert_router_expired.der", "not valid at this time")


def test_path_without_send_router_eku():
    path_fails("cert_router_wrong_eku.der", "sendRouter")


def test_router_cert_not_covering_prefix():
    ar = FakeAR()
    c = cfg(router=_text(ar.addr), prefix="2001:db8:5555::/64")
    mn = MobileNode(c, identity("rsa1024_b.pem"), anchors(), pool())
    for p in ar.cpas(mn.start(now_at(NOW))[0]):
        out = mn.handle(p, now_at(NOW))
    assert out == [] and "does not cover the link prefix" in logged(mn.events)[-1][1]
    discovery_ends(mn)


def test_path_not_to_anchor():
    # only the router certificate: its issuer (Test CA) is neither in the chain nor an anchor
    ar = FakeAR()
    mn, out = mn_for(ar, certs=[chain()[1]])
    assert out == [] and "not in the chain nor a trust anchor" in logged(mn.events)[-1][1]
    discovery_ends(mn)


def test_cpa_wrong_identifier_and_source_ignored():
    ar = FakeAR()
    mn = MobileNode(cfg(router=_text(ar.addr)), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    ident = certpath.parse(icmp(cps)[1]).identifier
    for p in ar.cpas(cps, ident=ident ^ 0x5A5A):
        assert mn.handle(p, now_at(NOW)) == []
    assert mn.counters["dropped.identifier"] == 2 and mn.state == "discovering"
    other = FakeAR(ident=identity("rsa1024_a.pem", modifier=b"\x05" * 16))
    for p in other.cpas(cps):
        assert mn.handle(p, now_at(NOW)) == []
    assert mn.counters["dropped.source"] == 2
    out = []
    for p in reversed(ar.cpas(cps)):                      # order does not matter
        out = mn.handle(p, now_at(NOW))
    assert mn.state == "requesting" and len(out) == 1


def test_all_routers_learns_router_from_prrtadv():
    # No router configured: a valid path certifies a key, the RtSolPr goes to all-routers,
    # and the router is the source of the PrRtAdv that key signed; a refresh goes to it.
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    for p in ar.cpas(mn.start(now_at(NOW))[0]):
        out = mn.handle(p, now_at(NOW))
    assert mn.router is None and bytes(icmp(out[0])[0].dst) == ALL_ROUTERS
    mn.handle(ar.prrtadv(out[0], lifetime=600), now_at(NOW))
    assert mn.state == "keyed" and mn.router == ar.addr and (ar.addr, mn.addr) in mn.keys
    assert bytes(icmp(mn.tick(now_at(NOW + 540))[0])[0].dst) == ar.addr


def genuine_completes(mn, ar, cps, sent=()):
    """The genuine router's CPAs after whatever came before (sent: an RtSolPr the MN sent
    already): the MN goes on to done with ar as its router."""
    out = list(sent)
    for p in ar.cpas(cps):
        out += mn.handle(p, now_at(NOW))
    assert mn.state == "requesting" and len(out) == 1 and AR_KEY in mn.known.values(), (mn.state, logged(mn.events))
    mn.handle(ar.prrtadv(out[0]), now_at(NOW))
    assert mn.state == "keyed" and mn.router == ar.addr, (mn.state, logged(mn.events))
    fbu = mn.fbu(ar.addr, NCOA, now_at(NOW))[0]
    mn.handle(ar.fback(fbu), now_at(NOW))
    assert mn.state == "done"


def test_replayed_genuine_cpas_from_other_address_first():
    # Anyone can replay the genuine router's CPAs from their own address: with no router
    # configured that certifies the key, not the replayer's address. The RtSolPr goes to
    # all-routers and the genuine router, holding the key, answers it.
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    replayer = identity("rsa1024_pkcs8.pem", modifier=b"\x05" * 16).addr
    out = []
    for c, cert in enumerate(reversed(ar.certs)):
        out += mn.handle(cpa(replayer, 0, 2, c, cert), now_at(NOW))
    assert mn.state == "requesting" and mn.router is None and len(out) == 1
    assert bytes(icmp(out[0])[0].dst) == ALL_ROUTERS
    genuine_completes(mn, ar, cps, out)


def test_all_routers_prrtadv_from_uncertified_key_refused():
    # Answering the all-routers RtSolPr (right identifier and nonce) from another address,
    # signed by that address's CGA key, which no path certified.
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    out = []
    for p in ar.cpas(cps):
        out += mn.handle(p, now_at(NOW))
    other = FakeAR(ident=identity("rsa1024_pkcs8.pem", modifier=b"\x05" * 16))
    assert mn.handle(other.prrtadv(out[0]), now_at(NOW)) == []
    assert mn.counters["dropped.uncertified"] == 1 and mn.router is None and mn.keys == {}
    genuine_completes(mn, ar, cps, out)


def test_certified_keys_bounded_from_any_source():
    # No router configured: every path that validates adds its key, from whatever source,
    # at most MAX_KEYS, the oldest making room. Router certificates for other keys, issued
    # by the anchor itself (rsa2048_a is Test Root's key).
    root = key("rsa2048_a.pem")
    others = ["rsa1024_b.pem", "rsa1024_pkcs8.pem", "rsa2048_b.pem", "rsa2048_a.pem"]
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    out = []
    for i, name in enumerate(others):
        cert = mint("router%d" % i, "Test Root", root, key(name).public)
        out += mn.handle(cpa(ar.addr[:15] + bytes((i,)), 0, 1, 0, cert), now_at(NOW))
    assert len(out) == 1 and "path.invalid" not in mn.counters, logged(mn.events)
    assert sorted(k.n for k in mn.known.values()) == sorted(key(n).public.n for n in others)
    genuine_completes(mn, ar, cps, out)
    assert len(mn.known) == MAX_KEYS and key(others[0]).public not in mn.known.values()


def test_forged_all_nodes_cpa_before_genuine():
    # Identifier 0, a junk certificate, from another address: the MN (no router configured)
    # neither takes that address as its router nor gives up.
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    forger = identity("rsa1024_pkcs8.pem", modifier=b"\x05" * 16).addr
    assert mn.handle(cpa(forger, 0, 1, 0, JUNK), now_at(NOW)) == []
    assert mn.state == "discovering" and mn.router is None and mn.counters["path.invalid"] == 1
    assert logged(mn.events)[-1][0] == "path-invalid" and logged(mn.events)[-1][1].startswith("router 2001:db8:1234:1:")
    genuine_completes(mn, ar, cps)


def test_forged_cpa_from_router_address_overridden():
    # A junk copy of component 1 claiming the configured router's address, ahead of the
    # genuine one: the genuine copy replaces it before the set is complete.
    ar = FakeAR()
    mn = MobileNode(cfg(router=_text(ar.addr)), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    ident = certpath.parse(icmp(cps)[1]).identifier
    assert mn.handle(cpa(ar.addr, ident, 2, 1, JUNK, mn.addr), now_at(NOW)) == []
    genuine_completes(mn, ar, cps)
    assert "path.invalid" not in mn.counters


def test_bad_path_retried_with_genuine_component():
    # The forgery completes the router's set with junk: the path fails, and the genuine
    # component arriving afterwards replaces the junk and the path validates.
    ar = FakeAR()
    mn = MobileNode(cfg(router=_text(ar.addr)), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    ident = certpath.parse(icmp(cps)[1]).identifier
    ca, router = ar.cpas(cps)
    mn.handle(ca, now_at(NOW))
    assert mn.handle(cpa(ar.addr, ident, 2, 0, JUNK, mn.addr), now_at(NOW)) == []
    assert mn.state == "discovering" and mn.counters["path.invalid"] == 1
    assert len(mn.handle(router, now_at(NOW))) == 1 and mn.state == "requesting"
    assert mn.counters["path.invalid"] == 1 and list(mn.known.values()) == [AR_KEY]


def test_valid_path_to_untrusted_anchor_from_other_source():
    # A correctly signed path, to an anchor the MN does not trust, answering our CPS from
    # another address first.
    root_key = key("rsa2048_b.pem")
    other_root = mint("Other Root", "Other Root", root_key, root_key.public, ca=True)
    other_path = [other_root, mint("other-router", "Other Root", root_key, key("rsa1024_pkcs8.pem").public)]
    assert x509.validate_path(other_path, [x509.parse(other_root)], NOW).name() == "other-router"
    other = FakeAR(ident=identity("rsa1024_pkcs8.pem", modifier=b"\x05" * 16), certs=other_path)
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    for p in other.cpas(cps):
        assert mn.handle(p, now_at(NOW)) == []
    assert mn.router is None and mn.known == {} and mn.counters["path.invalid"] == 1
    assert "not in the chain nor a trust anchor" in logged(mn.events)[-1][1]
    genuine_completes(mn, ar, cps)


def test_cpa_flood_from_many_sources_bounded():
    ar = FakeAR()
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    cps = mn.start(now_at(NOW))[0]
    cert = data("cert_router.der")
    for i in range(20):
        src = ar.addr[:15] + bytes((i,))
        for c in range(MAX_PATH - 1):                     # never complete
            mn.handle(cpa(src, 0, MAX_PATH, c, cert), now_at(NOW))
        assert len(mn.discovery.paths) <= MAX_SOURCES
        assert sum(len(p.certs) for p in mn.discovery.paths) <= MAX_SOURCES * (MAX_PATH - 1)
    assert mn.handle(cpa(src, 0, MAX_PATH + 1, 0, cert), now_at(NOW)) == []     # longer paths not kept
    assert mn.counters["dropped.components"] == 1 and mn.counters["dropped.cpa_sources"] == 20 - MAX_SOURCES
    assert mn.state == "discovering" and mn.router is None
    genuine_completes(mn, ar, cps)


def test_fback_bad_badf_wrong_seq_wrong_source_ignored():
    ar = FakeAR()
    mn, out = mn_for(ar)
    mn.handle(ar.prrtadv(out[0]), now_at(NOW))
    fbu = mn.fbu(ar.addr, NCOA, now_at(NOW))[0]
    assert mn.handle(ar.fback(fbu, key=bytes(20)), now_at(NOW)) == []
    assert mn.counters["dropped.badf"] == 1
    assert mn.handle(ar.fback(fbu, seq=(mh.parse_packet(fbu)[2].seq + 1) & 0xFFFF), now_at(NOW)) == []
    assert mn.counters["dropped.sequence"] == 1
    assert mn.handle(ar.fback(fbu, src=NCOA), now_at(NOW)) == []
    assert mn.counters["dropped.source"] == 1
    fb = bytearray(ar.fback(fbu))
    fb[-1] ^= 1                                           # authenticator octet, checksum now wrong
    assert mn.handle(bytes(fb), now_at(NOW)) == []
    assert mn.counters["dropped.checksum"] == 1 and mn.counters["dropped.badf"] == 1
    assert mn.state == "fbu-sent"
    mn.handle(ar.fback(fbu), now_at(NOW))
    assert mn.state == "done"


def test_fback_rejected_status():
    ar = FakeAR()
    mn, out = mn_for(ar, at=1)
    mn.handle(ar.prrtadv(out[0]), now_at(NOW))
    fbu = mn.fbu(ar.addr, NCOA, now_at(NOW))[0]
    mn.handle(ar.fback(fbu, status=129), now_at(NOW))
    assert mn.state == "failed" and mn.events[-1].name == "fbu-rejected" and mn.events[-1].status == 129


def test_fbu_without_key_fails():
    ar = FakeAR()
    mn, out = mn_for(ar)
    assert mn.fbu(ar.addr, NCOA, now_at(NOW)) == [] and mn.state == "failed"
    assert logged(mn.events)[-1][0] == "fbu-no-key"


def test_malformed_packets_counted_never_raise():
    ar = FakeAR()
    mn, out = mn_for(ar)
    good = ar.prrtadv(out[0])
    n = 0
    for cut in (0, 10, 39, 40, 44, 47, 60, len(good) - 1):
        mn.handle(good[:cut], now_at(NOW))
        n += 1
    bad_hlim = bytearray(good)
    bad_hlim[7] = 64
    mn.handle(bytes(bad_hlim), now_at(NOW))
    bad_sum = bytearray(good)
    bad_sum[43] ^= 1
    mn.handle(bytes(bad_sum), now_at(NOW))
    dropped = sum(v for k, v in mn.counters.items() if k.startswith("dropped."))
    assert dropped == n + 2 and mn.counters["dropped.hop_limit"] == 1
    assert mn.keys == {} and mn.state == "requesting"
    mn.handle(good, now_at(NOW))
    assert mn.state == "keyed"
