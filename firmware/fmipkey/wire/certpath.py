# Certification Path Solicitation / Advertisement (RFC 3971 6.4.1, 6.4.2) as records that parse
# from bytes (fields, options walked by Message) and emit them.
import struct
from fmipkey.compat import const
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6
from fmipkey.wire.ndopt import Message

ICMP_CPS = const(148)
ICMP_CPA = const(149)
ALL_COMPONENTS = const(65535)


class Cps(Message):
    """CPS: .identifier, .component (ALL_COMPONENTS for the whole path), options."""

    def __init__(self, buf):
        Message.__init__(self, buf, 8)
        raw = self.raw
        if self.type != ICMP_CPS:
            raise ParseError("not a CPS or CPA")
        self.identifier = (raw[4] << 8) | raw[5]
        self.component = (raw[6] << 8) | raw[7]

    @staticmethod
    def emit(identifier, component=ALL_COMPONENTS, options=b""):
        return icmp6.icmp_message(ICMP_CPS, 0, struct.pack(">HH", identifier, component), options)


class Cpa(Message):
    """CPA: .identifier, .all_components, .component, options."""

    def __init__(self, buf):
        Message.__init__(self, buf, 12)
        raw = self.raw
        if self.type != ICMP_CPA:
            raise ParseError("not a CPS or CPA")
        self.identifier = (raw[4] << 8) | raw[5]
        self.all_components = (raw[6] << 8) | raw[7]
        self.component = (raw[8] << 8) | raw[9]

    @staticmethod
    def emit(identifier, all_components, component, options=b""):
        return icmp6.icmp_message(ICMP_CPA, 0, struct.pack(">HHHH", identifier, all_components, component, 0),
                                  options)


def parse(buf):
    """A CPS or a CPA (by ICMPv6 type); ParseError for anything else."""
    return (Cpa if len(buf) and buf[0] == ICMP_CPA else Cps)(buf)
