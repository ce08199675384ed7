# Certification Path Solicitation / Advertisement (RFC 3971 6.4.1, 6.4.2).
import struct
from fmipkey.compat import const
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6
from fmipkey.wire.ndopt import Message

ICMP_CPS = const(148)
ICMP_CPA = const(149)
ALL_COMPONENTS = const(65535)


def cps(identifier, component=ALL_COMPONENTS, options=b""):
    return icmp6.icmp_message(ICMP_CPS, 0, struct.pack(">HH", identifier, component), options)


def cpa(identifier, all_components, component, options=b""):
    return icmp6.icmp_message(ICMP_CPA, 0, struct.pack(">HHHH", identifier, all_components, component, 0),
                              options)


def parse(buf):
    """A CPS (.identifier, .component) or CPA (also .all_components) as a Message."""
    mv = memoryview(buf)
    if len(mv) < 8:
        raise ParseError("short certification path message")
    if mv[0] == ICMP_CPS:
        m = Message(mv, 8)
        m.component = (mv[6] << 8) | mv[7]
    elif mv[0] == ICMP_CPA:
        m = Message(mv, 12)
        m.all_components = (mv[6] << 8) | mv[7]
        m.component = (mv[8] << 8) | mv[9]
    else:
        raise ParseError("not a CPS or CPA")
    m.identifier = (mv[4] << 8) | mv[5]
    return m
