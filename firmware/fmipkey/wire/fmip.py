# FMIPv6 ICMPv6 messages (RFC 5568 6.1.1, 6.1.2): RtSolPr and PrRtAdv, type 154 told apart by
# Subtype. Each record parses from bytes (its fields, options walked by Message) and emits them.
import struct
from fmipkey.compat import const
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6
from fmipkey.wire.ndopt import Message

ICMP_FMIP = const(154)
RTSOLPR = const(2)
PRRTADV = const(3)
MAX_PRRTADV_CODE = const(5)
_FIXED = const(8)         # type, code, checksum, subtype, reserved, identifier


class _Fmip(Message):
    # The fixed part both messages share; a subclass names its subtype and checks its code.
    subtype = None

    def __init__(self, buf):
        Message.__init__(self, buf, _FIXED)
        raw = self.raw
        if self.type != ICMP_FMIP:
            raise ParseError("not an FMIPv6 message")
        if raw[4] != self.subtype:
            raise ParseError("unknown FMIPv6 subtype")
        self.identifier = (raw[6] << 8) | raw[7]

    @classmethod
    def _emit(cls, code, identifier, options):
        return icmp6.icmp_message(ICMP_FMIP, code, struct.pack(">BBH", cls.subtype, 0, identifier), options)


class RtSolPr(_Fmip):
    """Router Solicitation for Proxy Advertisement: .identifier, options."""
    subtype = RTSOLPR

    def __init__(self, buf):
        _Fmip.__init__(self, buf)
        if self.code != 0:
            raise ParseError("RtSolPr code not 0")

    @classmethod
    def emit(cls, identifier, options=b""):
        """The message as a bytearray (checksum zero)."""
        return cls._emit(0, identifier, options)


class PrRtAdv(_Fmip):
    """Proxy Router Advertisement: .code (0..5), .identifier, options."""
    subtype = PRRTADV

    def __init__(self, buf):
        _Fmip.__init__(self, buf)
        if self.code > MAX_PRRTADV_CODE:
            raise ParseError("unknown PrRtAdv code")

    @classmethod
    def emit(cls, code, identifier, options=b""):
        """The message as a bytearray (checksum zero)."""
        return cls._emit(code, identifier, options)


def parse(buf):
    """An RtSolPr or a PrRtAdv (by Subtype); ParseError for anything else."""
    return (RtSolPr if len(buf) > 4 and buf[4] == RTSOLPR else PrRtAdv)(buf)
