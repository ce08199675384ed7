# Link rules every board driver shares: pure functions over IPv6 packet bytes.
from fmipkey.wire import certpath, fmip, ndopt

# ICMPv6 types that are Neighbor Discovery: RS, RA, NS, NA, Redirect (rfc4861),
# CPS, CPA (rfc3971) and the FMIPv6 RtSolPr/PrRtAdv type (rfc5568).
ND_TYPES = (ndopt.RS, ndopt.RA, ndopt.NS, ndopt.NA, ndopt.REDIRECT, certpath.ICMP_CPS, certpath.ICMP_CPA,
            fmip.ICMP_FMIP)


def nd_hop_limit_ok(packet):
    """False for an ND message whose hop limit is not 255 (rfc4861 6.1, 7.1):
    it crossed a router, so it cannot come from the link. True otherwise."""
    return not (len(packet) > 40 and packet[6] == 58 and packet[40] in ND_TYPES and packet[7] != 255)


def multicast_mac(addr):
    """The Ethernet address an IPv6 multicast address maps to (rfc2464 7)."""
    return b"\x33\x33" + bytes(addr[12:16])


def solicited_node_mac(addr):
    """The Ethernet address of addr's solicited-node group ff02::1:ffXX:XXXX."""
    return b"\x33\x33\xff" + bytes(addr[13:16])
