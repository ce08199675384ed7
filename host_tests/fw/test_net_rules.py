# fmipkey.net: the link rules every board driver applies (rfc4861 hop limit, rfc2464 multicast MACs).
from fmipkey.net import multicast_mac, nd_hop_limit_ok, solicited_node_mac

LL = b"\xfe\x80" + b"\x00" * 6 + b"\x02\x11\x22\xff\xfe\x33\x44\x55"


def packet(next_header, hop_limit, icmp_type):
    return b"\x60\x00\x00\x00\x00\x08" + bytes([next_header, hop_limit]) + LL + LL + bytes([icmp_type]) + b"\x00" * 7


def test_nd_types_need_hop_limit_255():
    # RS, RA, NS, NA, Redirect, CPS, CPA, RtSolPr/PrRtAdv
    for t in (133, 134, 135, 136, 137, 148, 149, 154):
        assert nd_hop_limit_ok(packet(58, 255, t))
        assert not nd_hop_limit_ok(packet(58, 254, t))
        assert not nd_hop_limit_ok(packet(58, 64, t))


def test_other_messages_any_hop_limit():
    for t in (1, 128, 129, 132, 138, 147, 150, 153, 155):  # errors, echo, MLD, neighbours of the ND range
        assert nd_hop_limit_ok(packet(58, 3, t))
    assert nd_hop_limit_ok(packet(135, 3, 154))  # a Mobility Header whose first octet happens to be 154


def test_too_short_to_be_icmpv6_is_not_judged_here():
    assert nd_hop_limit_ok(packet(58, 3, 133)[:40])


def test_multicast_macs():
    assert multicast_mac(b"\xff\x02" + b"\x00" * 13 + b"\x02") == b"\x33\x33\x00\x00\x00\x02"
    assert multicast_mac(b"\xff\x02" + b"\x00" * 9 + b"\x01\xff\x33\x44\x55") == b"\x33\x33\xff\x33\x44\x55"
    assert solicited_node_mac(LL) == b"\x33\x33\xff\x33\x44\x55"
    assert solicited_node_mac(memoryview(LL)) == b"\x33\x33\xff\x33\x44\x55"
