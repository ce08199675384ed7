# Neighbor Discovery option TLVs (RFC 4861 4.6) and the codecs of the options SEND and FMIPv6 use.
# Option parsers take (buf, start, end) as listed by Message.opts and return tuples of memoryviews;
# Message.option(T, parse) finds and parses one.
import struct
from fmipkey.compat import const
from fmipkey.crypto import der
from fmipkey.errors import ParseError

# Neighbor Discovery messages (RFC 4861 4.1-4.5) and where their options start
RS = const(133)
RA = const(134)
NS = const(135)
NA = const(136)
REDIRECT = const(137)
ND_FIXED = {RS: 8, RA: 16, NS: 24, NA: 24, REDIRECT: 40}

SRC_LLA = const(1)        # RFC 4861 4.6.1
TGT_LLA = const(2)
PREFIX_INFO = const(3)    # RFC 4861 4.6.2-4.6.4
REDIRECTED = const(4)
MTU = const(5)
CGA = const(11)           # RFC 3971 5.1
RSA_SIG = const(12)       # RFC 3971 5.2
TIMESTAMP = const(13)     # RFC 3971 5.3.1
NONCE = const(14)         # RFC 3971 5.3.2
TRUST_ANCHOR = const(15)  # RFC 3971 6.4.3
CERTIFICATE = const(16)   # RFC 3971 6.4.4
IP_ADDR = const(17)       # RFC 5568 6.4.1
NEW_PREFIX = const(18)    # New Router Prefix Information (RFC 4068), same layout as IP_ADDR
FMIP_LLA = const(19)      # RFC 5568 6.4.3
HK_REQUEST = const(27)    # RFC 5269 4.1
HK_REPLY = const(28)      # RFC 5269 4.2

# FMIP_LLA option codes (RFC 5568 6.4.3)
LLA_WILDCARD = const(0)
LLA_NEW_AP = const(1)
LLA_MN = const(2)
LLA_NAR = const(3)
LLA_SOURCE = const(4)
LLA_SAME_ROUTER = const(5)
LLA_NO_PREFIX = const(6)
LLA_NO_FMIP = const(7)

NAME_DER = const(1)       # Trust Anchor name types
NAME_FQDN = const(2)
CERT_X509 = const(1)


class Message:
    """An ICMPv6 message carrying ND options, walked once without copying.

    raw: memoryview of the whole message; type, code, checksum; fixed: length of the fixed part
    (ICMP header + message header); opts: [(type, start, end)] up to and including the first
    RSA Signature option; sig: offset of that option or -1. Options after it are ignored
    (RFC 3971 5.2.2)."""

    def __init__(self, buf, fixed):
        mv = memoryview(buf)
        n = len(mv)
        if n < fixed:
            raise ParseError("message shorter than its header")
        self.raw = mv
        self.type = mv[0]
        self.code = mv[1]
        self.checksum = (mv[2] << 8) | mv[3]
        self.fixed = fixed
        self.sig = -1
        opts = []
        off = fixed
        while off < n:
            if off + 2 > n:
                raise ParseError("option header truncated")
            t = mv[off]
            ln = mv[off + 1] * 8
            if ln == 0:
                raise ParseError("option length 0")
            if off + ln > n:
                raise ParseError("option %d overruns message" % t)
            opts.append((t, off, off + ln))
            if t == RSA_SIG:
                self.sig = off
                break
            off += ln
        self.opts = opts

    def find(self, t):
        """(start, end) of the first option of type t, or None."""
        for o in self.opts:
            if o[0] == t:
                return o[1], o[2]
        return None

    def find_all(self, t):
        return [(o[1], o[2]) for o in self.opts if o[0] == t]

    def option(self, t, parse):
        """parse(raw, start, end) of the first option of type t, or None when there is none."""
        for o in self.opts:
            if o[0] == t:
                return parse(self.raw, o[1], o[2])
        return None

    def options(self, t, parse):
        """parse(raw, start, end) of every option of type t, in order."""
        return [parse(self.raw, o[1], o[2]) for o in self.opts if o[0] == t]


def _pad8(n):
    return -n % 8


def option(t, payload):
    """Generic option: type, length, payload, zero padding to a multiple of 8 octets."""
    n = 2 + len(payload)
    pad = _pad8(n)
    if (n + pad) > 255 * 8:
        raise ValueError("option too long")
    return bytes((t, (n + pad) // 8)) + bytes(payload) + bytes(pad)


def _padded(t, head, value):
    # Options whose third octet is a Pad Length (CGA, HK Request/Reply); head follows it.
    n = 3 + len(head) + len(value)
    pad = _pad8(n)
    return bytes((t, (n + pad) // 8, pad)) + bytes(head) + bytes(value) + bytes(pad)


def _unpadded(buf, start, end, head):
    # Value of a Pad Length option: from start+3+head to end-pad.
    pad = buf[start + 2]
    v0 = start + 3 + head
    if v0 + pad > end:
        raise ParseError("pad length overruns option")
    return v0, end - pad


# Source/Target Link-layer Address (RFC 4861 4.6.1)
def link_addr(t, addr):
    return option(t, addr)


def parse_link_addr(buf, start, end):
    """The link-layer address with its padding (its length is link-specific)."""
    return memoryview(buf)[start + 2:end]


# FMIPv6 Link-layer Address (RFC 5568 6.4.3)
def fmip_lla(code, addr):
    return option(FMIP_LLA, bytes((code,)) + bytes(addr))


def parse_fmip_lla(buf, start, end):
    """(option code, link-layer address with padding)."""
    if end - start < 3:
        raise ParseError("short LLA option")
    return buf[start + 2], memoryview(buf)[start + 3:end]


# IP Address/Prefix (17) and New Router Prefix (18)
def ip_addr(code, plen, addr, t=IP_ADDR):
    return bytes((t, 3, code, plen)) + bytes(4) + bytes(addr)


def parse_ip_addr(buf, start, end):
    """(option code, prefix length, address)."""
    if end - start < 24:
        raise ParseError("short address option")
    if buf[start + 3] > 128:
        raise ParseError("prefix length > 128")
    return buf[start + 2], buf[start + 3], memoryview(buf)[start + 8:start + 24]


# CGA (RFC 3971 5.1)
def cga(params):
    return _padded(CGA, b"\x00", params)


def parse_cga(buf, start, end):
    """The CGA Parameters."""
    v0, v1 = _unpadded(buf, start, end, 1)
    return memoryview(buf)[v0:v1]


# RSA Signature (RFC 3971 5.2)
def rsa_sig(key_hash, sig):
    return option(RSA_SIG, b"\x00\x00" + bytes(key_hash) + bytes(sig))


def parse_rsa_sig(buf, start, end):
    """(key hash, signature field incl. padding); the key size says how much is signature."""
    if end - start < 20:
        raise ParseError("short RSA Signature option")
    mv = memoryview(buf)
    return mv[start + 4:start + 20], mv[start + 20:end]


# Timestamp (RFC 3971 5.3.1): 48-bit seconds + 16-bit fraction = 64 bits in units of 1/65536 s
def timestamp(ts):
    return bytes((TIMESTAMP, 2)) + bytes(6) + ts.to_bytes(8, "big")


def parse_timestamp(buf, start, end):
    if end - start != 16:
        raise ParseError("Timestamp option length")
    return int.from_bytes(memoryview(buf)[start + 8:end], "big")


# Nonce (RFC 3971 5.3.2)
def nonce(value):
    if len(value) < 6 or (len(value) + 2) % 8:
        raise ValueError("nonce length")
    return option(NONCE, value)


def parse_nonce(buf, start, end):
    if end - start < 8:
        raise ParseError("short Nonce option")
    return memoryview(buf)[start + 2:end]


# Trust Anchor (RFC 3971 6.4.3): Name Type precedes Pad Length
def trust_anchor(name_type, name):
    n = 4 + len(name)
    pad = _pad8(n)
    return bytes((TRUST_ANCHOR, (n + pad) // 8, name_type, pad)) + bytes(name) + bytes(pad)


def parse_trust_anchor(buf, start, end):
    """(name type, name)."""
    pad = buf[start + 3]
    if start + 4 + pad > end:
        raise ParseError("pad length overruns option")
    return buf[start + 2], memoryview(buf)[start + 4:end - pad]


# Certificate (RFC 3971 6.4.4): no Pad Length, the certificate's DER length says where it ends
def certificate(der, cert_type=CERT_X509):
    return option(CERTIFICATE, bytes((cert_type, 0)) + bytes(der))


def parse_certificate(buf, start, end):
    """(cert type, certificate DER cut to its outer SEQUENCE)."""
    c = start + 4
    tag, _, ve = der.read_tlv(buf, c, end)
    if tag != der.SEQUENCE:
        raise ParseError("certificate is not a DER SEQUENCE")
    return buf[start + 2], memoryview(buf)[c:ve]


# Handover Key Request (RFC 5269 4.1): Pad Length, AT (high 4 bits), key; Length*8 = 4 + key + pad
def hk_request(at, key_der):
    return _padded(HK_REQUEST, bytes((at << 4,)), key_der)


def parse_hk_request(buf, start, end):
    """(AT, handover key encryption public key)."""
    v0, v1 = _unpadded(buf, start, end, 1)
    return buf[start + 3] >> 4, memoryview(buf)[v0:v1]


# Handover Key Reply (RFC 5269 4.2): as the Request, plus a 16-bit Key Lifetime before the key
def hk_reply(at, lifetime, enc_key):
    return _padded(HK_REPLY, struct.pack(">BH", at << 4, lifetime), enc_key)


def parse_hk_reply(buf, start, end):
    """(AT, key lifetime in seconds, encrypted handover key)."""
    v0, v1 = _unpadded(buf, start, end, 3)
    return buf[start + 3] >> 4, (buf[start + 4] << 8) | buf[start + 5], memoryview(buf)[v0:v1]
