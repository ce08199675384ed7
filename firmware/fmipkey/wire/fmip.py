# FMIPv6 ICMPv6 messages (RFC 5568 6.1): RtSolPr and PrRtAdv, type 154 told apart by Subtype.
import struct
from fmipkey.compat import const
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6
from fmipkey.wire.ndopt import Message

ICMP_FMIP = const(154)
RTSOLPR = const(2)
PRRTADV = const(3)
MAX_PRRTADV_CODE = const(5)


def rtsolpr(identifier, options=b""):
    """An RtSolPr as a bytearray (checksum zero)."""
    return icmp6.icmp_message(ICMP_FMIP, 0, struct.pack(">BBH", RTSOLPR, 0, identifier), options)


def prrtadv(code, identifier, options=b""):
    """A PrRtAdv with Code 0..5 as a bytearray (checksum zero)."""
    return icmp6.icmp_message(ICMP_FMIP, code, struct.pack(">BBH", PRRTADV, 0, identifier), options)


def parse(buf):
    """An RtSolPr or PrRtAdv: a Message with .subtype and .identifier."""
    m = Message(buf, 8)
    if m.type != ICMP_FMIP:
        raise ParseError("not an FMIPv6 message")
    m.subtype = m.raw[4]
    m.identifier = (m.raw[6] << 8) | m.raw[7]
    if m.subtype == RTSOLPR:
        if m.code != 0:
            raise ParseError("RtSolPr code not 0")
    elif m.subtype == PRRTADV:
        if m.code > MAX_PRRTADV_CODE:
            raise ParseError("unknown PrRtAdv code")
    else:
        raise ParseError("unknown FMIPv6 subtype")
    return m
