# Malformed input at the AR: truncated, mutated and garbage packets never raise, are
# counted, and never create a key or a binding for anyone but the MN that owns its CGA.
import random

from arfix import ALL_ROUTERS, NCOA, NOW, Node, cps, fbu, key, make_ar, rtsolpr
from fmipkey.wire import icmp6
from fwtest import now_at

MN = Node("rsa1024_b.pem")
HKEPK = key("rsa1024_pkcs8.pem")


def seeds(ar):
    return [rtsolpr(MN, ar.addr, HKEPK.public), rtsolpr(MN, ALL_ROUTERS, aps=((0, b""),)),
            cps(MN.addr, ALL_ROUTERS, anchors=[b"\x30\x00"]), fbu(MN.addr, ar.addr, ar.keystore.get(MN.addr, NOW)[0], 0)]


def refit(p):
    """Make a cut or mutated packet consistent again (payload length, checksum) so that
    it gets past the cheap checks into the message parsers."""
    p = bytearray(p)
    if len(p) < 48:
        return p
    n = len(p) - 40
    p[4], p[5] = n >> 8, n & 0xFF
    if p[6] == icmp6.NH_ICMPV6:
        icmp6.set_checksum(memoryview(p)[40:], p[8:24], p[24:40])
    elif p[6] == icmp6.NH_DSTOPTS and n >= 24 + 8 and p[40] == icmp6.NH_MH:
        icmp6.set_checksum(memoryview(p)[64:], p[48:64], p[24:40], icmp6.NH_MH, 4)
    return p


def dropped(ar):
    return sum(v for k, v in ar.counters.items() if k.startswith("dropped.") or k == "ignored")


def only_mn_state(ar):
    for c, at, exp in ar.keystore.entries(NOW):
        assert bytes(c) == MN.addr
    for p in ar.bindings:
        assert p == MN.addr


def test_truncated_packets_dropped():
    ar = make_ar()
    ar.keystore.issue(MN.addr, 0, NOW)
    n = 0
    for p in seeds(ar):
        for cut in range(len(p)):
            assert ar.handle(p[:cut], now_at(NOW)) == []
            n += 1
    assert ar.counters["received"] == n == ar.counters["dropped.malformed"]
    assert ar.bindings == {}


def test_consistent_truncations_never_raise():
    ar = make_ar()
    ar.keystore.issue(MN.addr, 0, NOW)
    n = answered = 0
    for p in seeds(ar):
        for cut in range(40, len(p), 3):
            out = ar.handle(bytes(refit(p[:cut])), now_at(NOW))
            answered += len(out) > 0
            n += 1
    # only a cut in the options can still be answered (an RtSolPr lacking its signature, a CPS
    # lacking its Trust Anchor option); everything else is counted
    assert dropped(ar) + answered == n
    assert ar.bindings == {} and "keys.issued" not in ar.counters


def test_mutations_and_garbage_never_raise():
    random.seed(5269)
    ar = make_ar()
    ar.keystore.issue(MN.addr, 0, NOW)
    base = seeds(ar)
    for i in range(300):
        b = bytearray(base[i % len(base)])
        for _ in range(1 + random.getrandbits(2)):
            b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
        if i & 1:
            b = refit(b)
        ar.handle(bytes(b), now_at(NOW + i * 0.01))
    for i in range(300):
        ln = random.getrandbits(8) % 96
        g = bytearray(random.getrandbits(8) for _ in range(ln))
        if ln:
            g[0] = 0x60                       # an IPv6 header more often than not
        ar.handle(bytes(refit(g)), now_at(NOW))
    assert ar.counters["received"] == 600 and dropped(ar) > 400
    only_mn_state(ar)
    assert not any(ar.bindings[p].ncoa != NCOA for p in ar.bindings)
