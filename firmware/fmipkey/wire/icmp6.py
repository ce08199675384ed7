# IPv6 header and the upper-layer checksum (RFC 2460 8.1, RFC 4443 2.3), shared by ICMPv6 and MH.
import struct
from fmipkey.compat import const
from fmipkey.errors import ParseError

IPV6_HLEN = const(40)
NH_DSTOPTS = const(60)
NH_ICMPV6 = const(58)
NH_MH = const(135)
NH_NONE = const(59)

# Addresses the ND messages go to and come from (rfc4291 2.7, 2.5.2)
ALL_NODES = b"\xff\x02" + bytes(13) + b"\x01"
ALL_ROUTERS = b"\xff\x02" + bytes(13) + b"\x02"
_SOLICITED = b"\xff\x02" + bytes(9) + b"\x01\xff"   # ff02::1:ff00:0/104
UNSPECIFIED = bytes(16)


def solicited_node(addr):
    """The solicited-node multicast group of addr (rfc4291 2.7.1)."""
    return _SOLICITED + bytes(addr[13:16])


def _sum(buf):
    # One's complement sum of 16-bit words is the big-endian value modulo 0xffff (2**16 = 1 mod 0xffff):
    # one bigint reduction instead of a Python loop over words.
    v = int.from_bytes(buf, "big")
    if len(buf) & 1:
        v <<= 8
    return v % 0xFFFF


def checksum(src, dst, nh, data, field=-1):
    """Upper-layer checksum of `data` between src and dst; the 16-bit word at `field` counts as zero."""
    s = _sum(src) + _sum(dst) + len(data) + nh + _sum(data)
    if field >= 0:
        s -= (data[field] << 8) | data[field + 1]
    s %= 0xFFFF
    # The pseudo-header is never all zero, so a sum of 0 mod 0xffff is 0xffff: checksum 0.
    return 0xFFFF - (s or 0xFFFF)


def set_checksum(msg, src, dst, nh=NH_ICMPV6, field=2):
    """Fill the checksum field of a bytearray message in place; return the checksum."""
    c = checksum(src, dst, nh, msg, field)
    msg[field] = c >> 8
    msg[field + 1] = c & 0xFF
    return c


def checksum_ok(msg, src, dst, nh=NH_ICMPV6, field=2):
    return checksum(src, dst, nh, msg, field) == (msg[field] << 8) | msg[field + 1]


class IPv6:
    """A parsed IPv6 header: src, dst (memoryviews), nh, hlim, payload (memoryview)."""

    def __init__(self, buf):
        mv = memoryview(buf)
        if len(mv) < IPV6_HLEN:
            raise ParseError("short IPv6 header")
        if mv[0] >> 4 != 6:
            raise ParseError("not IPv6")
        plen = (mv[4] << 8) | mv[5]
        if IPV6_HLEN + plen > len(mv):
            raise ParseError("IPv6 payload truncated")
        self.nh = mv[6]
        self.hlim = mv[7]
        self.src = mv[8:24]
        self.dst = mv[24:40]
        self.payload = mv[IPV6_HLEN:IPV6_HLEN + plen]


def ipv6_header(src, dst, nh, plen, hlim=255):
    return struct.pack(">IHBB", 0x60000000, plen, nh, hlim) + bytes(src) + bytes(dst)


def packet(src, dst, msg, hlim=255):
    """An IPv6 packet carrying the ICMPv6 message msg (a bytearray; checksum filled in place)."""
    set_checksum(msg, src, dst)
    return ipv6_header(src, dst, NH_ICMPV6, len(msg), hlim) + bytes(msg)


def icmp_message(icmp_type, code, body, options=b""):
    """An ICMPv6 message as a bytearray, checksum zero: type, code, checksum, body, options."""
    m = bytearray(4 + len(body) + len(options))
    m[0] = icmp_type
    m[1] = code
    m[4:4 + len(body)] = body
    m[4 + len(body):] = options
    return m
