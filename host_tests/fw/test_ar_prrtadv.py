# PrRtAdv Code and per-AP Option-Codes (rfc5568 6.1.2, 6.4.1, 6.4.3) for what an RtSolPr asks.
from arfix import AP_NAR, AP_OWN, AP_UNKNOWN, NAR_ADDR, NAR_LLA, NAR_PREFIX, NEIGHBORS, NOW, Node, make_ar, prrtadv, rtsolpr
from fmipkey import config
from fmipkey.errors import ConfigError
from fmipkey.wire import ndopt
from fwtest import raises
from fwtest import now_at

MN = Node("rsa1024_b.pem")


def answer(ar, aps):
    h, m = prrtadv(ar.handle(rtsolpr(MN, ar.addr, aps=aps), now_at(NOW))[0])
    opts = []
    for t, s, e in m.opts:
        if t == ndopt.FMIP_LLA:
            code, lla = ndopt.parse_fmip_lla(m.raw, s, e)
            opts.append(("lla", code, bytes(lla[:6])))
        elif t == ndopt.IP_ADDR:
            code, plen, a = ndopt.parse_ip_addr(m.raw, s, e)
            opts.append(("ip", code, plen, bytes(a)))
    return m.code, opts


def tuple_of(ap):
    return [("lla", 1, ap), ("lla", 3, NAR_LLA), ("ip", 3, 128, NAR_ADDR), ("ip", 4, 64, NAR_PREFIX + bytes(8))]


def test_known_ap_gets_its_nar_tuple():
    assert answer(make_ar(), ((1, AP_NAR),)) == (0, tuple_of(AP_NAR))


def test_unknown_ap_no_prefix_information():
    assert answer(make_ar(), ((1, AP_UNKNOWN),)) == (2, [("lla", 6, AP_UNKNOWN)])


def test_ap_of_our_own_prefix_needs_no_new_coa():
    assert answer(make_ar(), ((1, AP_OWN),)) == (2, [("lla", 5, AP_OWN)])


def test_subset_resolved():
    code, opts = answer(make_ar(), ((1, AP_UNKNOWN), (1, AP_NAR)))
    assert code == 3 and opts == [("lla", 6, AP_UNKNOWN)] + tuple_of(AP_NAR)


def test_wildcard_lists_the_neighbourhood():
    code, opts = answer(make_ar(), ((0, b""),))
    assert code == 3 and opts == tuple_of(AP_NAR) + [("lla", 5, AP_OWN)]


def test_wildcard_without_neighbours():
    code, opts = answer(make_ar(neighbors=[]), ((0, b""),))
    assert code == 2 and opts == [("lla", 6, bytes(5))]     # the wildcard option, copied


def test_answer_is_bounded():
    # many APs asked: at most MAX_APS tuples, so a signed answer stays under the IPv6 minimum MTU
    ar = make_ar(ar_key="rsa2048_a.pem")
    aps = [(1, AP_NAR)] * 40
    out = ar.handle(rtsolpr(MN, ar.addr, aps=aps), now_at(NOW))
    assert len(out[0]) <= 1280
    assert len([o for o in answer(ar, aps)[1] if o[:2] == ("lla", 1)]) == 4


def test_other_options_ignored_and_no_new_ap_dropped():
    ar = make_ar()
    # only an MN LLA (Option-Code 2): rfc5568 6.1.1 requires a New AP option
    assert ar.handle(rtsolpr(MN, ar.addr, aps=((2, AP_NAR),)), now_at(NOW)) == []
    assert ar.counters["dropped.no_new_ap"] == 1
    assert answer(ar, ((2, b"\x02\x00\x00\x00\x00\x05"), (1, AP_NAR)))[0] == 0


def no_fmip_neighbors():
    n = NEIGHBORS
    return [dict(n[0], fmip=False), n[1]]


def test_neighbour_without_fast_handovers_gets_option_code_7():
    # rfc5568 6.4.3: Option-Code 7, no other options; it resolves nothing (6.1.2: Code 2, or 3 for a subset)
    ar = make_ar(neighbors=no_fmip_neighbors())
    assert answer(ar, ((1, AP_NAR),)) == (2, [("lla", 7, AP_NAR)])
    assert answer(ar, ((0, b""),)) == (2, [("lla", 7, AP_NAR), ("lla", 5, AP_OWN)])
    n = no_fmip_neighbors()
    n[1] = dict(n[0], ap_id="02:00:00:00:01:03", fmip=True)            # another AP of that NAR, FMIP on
    code, opts = answer(make_ar(neighbors=n), ((1, AP_NAR), (1, bytes.fromhex("020000000103"))))
    assert code == 3 and opts[0] == ("lla", 7, AP_NAR) and opts[1][:2] == ("lla", 1) and len(opts) == 5
    # "fmip": true is the default; anything but a boolean is refused
    assert answer(make_ar(neighbors=[dict(n[1], fmip=True)]), ((1, bytes.fromhex("020000000103")),))[0] == 0
    e = raises(ConfigError, config.validate, {"neighbors": [dict(n[1], fmip="no")]})
    assert "neighbors[0].fmip" in e.args[0]
    raises(ConfigError, config.validate, {"neighbors": [dict(n[1], other=1)]})


def test_prrtadv_signing_is_rate_limited():
    # every PrRtAdv costs an RSA signature: a token bucket of max_prrtadv_rate/s, of which half
    # is kept for MNs whose keys FBUs have used (test_ar_admission.py), so unsecured requests
    # (their own budget set high here) get the other half
    ar = make_ar(max_prrtadv_rate=4, max_unsecured_rate=100, source_rate=100)
    assert len(ar.handle(rtsolpr(MN, ar.addr), now_at(NOW))) == 1
    assert len(ar.handle(rtsolpr(MN, ar.addr), now_at(NOW))) == 1
    assert ar.handle(rtsolpr(MN, ar.addr), now_at(NOW)) == [] and ar.counters["dropped.rate"] == 1
    assert ar.counters["prrtadv"] == 2 and ar.counters["rtsolpr"] == 2
    assert ar.handle(rtsolpr(MN, ar.addr), now_at(NOW + 0.125)) == []             # half a token back
    assert len(ar.handle(rtsolpr(MN, ar.addr), now_at(NOW + 0.25))) == 1
    assert len(ar.handle(rtsolpr(MN, ar.addr), now_at(NOW + 10))) == 1             # refilled, capped at 4
    assert len(ar.handle(rtsolpr(MN, ar.addr), now_at(NOW + 10))) == 1
    assert ar.handle(rtsolpr(MN, ar.addr), now_at(NOW + 10)) == [] and ar.counters["dropped.rate"] == 3
