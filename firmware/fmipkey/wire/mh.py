# Mobility Header (RFC 3775 6.1) with the FMIPv6 FBU and FBack (RFC 5568 6.2.2, 6.2.3), their
# mobility options, and the Home Address destination option (RFC 3775 6.3).
import struct
from fmipkey.compat import const
from fmipkey.errors import ParseError
from fmipkey.wire import icmp6

FBU = const(8)
FBACK = const(9)

OPT_PAD1 = const(0)
OPT_PADN = const(1)
OPT_ALT_COA = const(3)
OPT_MH_LLA = const(7)
OPT_BADF = const(21)

FLAG_A = const(0x8000)   # FBU flags, first 16 bits after the sequence number
FLAG_H = const(0x4000)
FLAG_L = const(0x2000)
FLAG_K = const(0x1000)

HAO = const(201)
_FIXED = const(12)       # MH header (6) + FBU/FBack fields (6)


def _pad(buf, n):
    # Pad1 for one octet, PadN for more (RFC 3775 6.2.2, 6.2.3)
    if n == 1:
        buf.append(OPT_PAD1)
    elif n:
        buf.extend(bytes((OPT_PADN, n - 2)) + bytes(n - 2))


def _build(mh_type, fields, alt_coa, lla, auth_len, spi):
    b = bytearray((icmp6.NH_NONE, 0, mh_type, 0, 0, 0))
    b.extend(fields)
    if alt_coa is not None:
        _pad(b, (6 - len(b)) % 8)         # 8n+6 alignment
        b.extend(bytes((OPT_ALT_COA, 16)) + bytes(alt_coa))
    if lla is not None:
        b.extend(bytes((OPT_MH_LLA, 1 + len(lla), 2)) + bytes(lla))
    auth_off = -1
    if auth_len:
        # BADF is last with no trailing padding: place it so that it ends on 8 octets.
        # Option Length = SPI + Authenticator (docs/interop.md).
        n = 6 + auth_len
        _pad(b, (-len(b) - n) % 8)
        b.extend(bytes((OPT_BADF, 4 + auth_len)) + spi.to_bytes(4, "big"))
        auth_off = len(b)
        b.extend(bytes(auth_len))
    else:
        _pad(b, -len(b) % 8)
    b[1] = len(b) // 8 - 1
    return b, auth_off


def mac_data(mh, auth_off, coa, par):
    """BADF MAC input: care-of address | PAR address | MH up to the Authenticator, checksum as zero."""
    d = bytearray(coa)
    d.extend(par)
    d.extend(mh[:auth_off])
    d[36] = d[37] = 0
    return d


class _Mh:
    """The MH header and mobility options of an FBU or FBack: raw, type, checksum; opts
    [(type, start, end)]; alt_coa (memoryview or None); lla (or None); badf None or
    (spi, auth_start, auth_end). A subclass parses its fields after the MH header."""
    mh_type = None

    def __init__(self, buf):
        mv = memoryview(buf)
        n = len(mv)
        if n < 8:
            raise ParseError("short Mobility Header")
        if (mv[1] + 1) * 8 != n:
            raise ParseError("MH length mismatch")
        self.raw = mv
        self.type = mv[2]
        self.checksum = (mv[4] << 8) | mv[5]
        if self.type != self.mh_type:
            raise ParseError("unsupported MH type", "mh_type")
        if n < _FIXED:
            raise ParseError("short FBU/FBack")
        self.alt_coa = self.lla = self.badf = None
        opts = []
        off = _FIXED
        while off < n:
            t = mv[off]
            if t == OPT_PAD1:
                off += 1
                continue
            if off + 2 > n:
                raise ParseError("mobility option truncated")
            end = off + 2 + mv[off + 1]
            if t == OPT_BADF:
                # Last option: Length is SPI + Authenticator (ours) or the Authenticator alone
                # (RFC 5568 text); either way the Authenticator runs from SPI + 4 to the MH end.
                if (end != n and end + 4 != n) or off + 6 > n:
                    raise ParseError("BADF not last or bad length")
                self.badf = (int.from_bytes(mv[off + 2:off + 6], "big"), off + 6, n)
                opts.append((t, off, n))
                break
            if end > n:
                raise ParseError("mobility option overruns MH")
            if t == OPT_ALT_COA:
                if end - off != 18:
                    raise ParseError("Alternate CoA length")
                self.alt_coa = mv[off + 2:end]
            elif t == OPT_MH_LLA:
                if end - off < 3:
                    raise ParseError("short MH-LLA option")
                self.lla = mv[off + 3:end]
            opts.append((t, off, end))
            off = end
        self.opts = opts


class Fbu(_Mh):
    """Fast Binding Update (rfc5568 6.2.2): seq, flags (FLAG_*), lifetime (units of 4 s), options."""
    mh_type = FBU

    def __init__(self, buf):
        _Mh.__init__(self, buf)
        self.seq, self.flags, self.lifetime = struct.unpack_from(">HHH", self.raw, 6)

    @staticmethod
    def emit(seq, lifetime, flags=FLAG_A | FLAG_H, alt_coa=None, lla=None, auth_len=12, spi=0):
        """(MH bytearray, offset of the zeroed Authenticator or -1). lla: MH-LLA of the MN (code 2)."""
        return _build(FBU, struct.pack(">HHH", seq, flags, lifetime), alt_coa, lla, auth_len, spi)


class Fback(_Mh):
    """Fast Binding Acknowledgment (rfc5568 6.2.3): status, k, seq, lifetime, options."""
    mh_type = FBACK

    def __init__(self, buf):
        _Mh.__init__(self, buf)
        self.status, k, self.seq, self.lifetime = struct.unpack_from(">BBHH", self.raw, 6)
        self.k = bool(k & 0x80)

    @staticmethod
    def emit(status, seq, lifetime, k=False, alt_coa=None, auth_len=12, spi=0):
        """(MH bytearray, offset of the zeroed Authenticator or -1)."""
        return _build(FBACK, struct.pack(">BBHH", status, 0x80 if k else 0, seq, lifetime),
                      alt_coa, None, auth_len, spi)


def parse(buf):
    """An Fbu or an Fback (by MH Type); ParseError (code mh_type) for other MH messages."""
    return (Fbu if len(buf) > 2 and buf[2] == FBU else Fback)(buf)


def hao(next_header, home):
    """Destination Options header holding only a Home Address option at 8n+6 (24 octets)."""
    return bytes((next_header, 2, OPT_PADN, 2, 0, 0, HAO, 16)) + bytes(home)


def parse_dstopts(buf):
    """(next header, home address or None, header length) of a Destination Options header."""
    mv = memoryview(buf)
    if len(mv) < 8:
        raise ParseError("short destination options header")
    n = (mv[1] + 1) * 8
    if n > len(mv):
        raise ParseError("destination options overrun packet")
    home = None
    off = 2
    while off < n:
        t = mv[off]
        if t == 0:
            off += 1
            continue
        if off + 2 > n or off + 2 + mv[off + 1] > n:
            raise ParseError("destination option overruns header")
        ln = mv[off + 1]
        if t == HAO:
            if ln != 16 or home is not None:
                raise ParseError("bad Home Address option")
            home = mv[off + 2:off + 18]
        elif t != 1 and t & 0xC0:
            raise ParseError("unknown destination option must not be skipped")
        off += 2 + ln
    return mv[0], home, n


def packet(src, dst, mh, home=None, hlim=64):
    """IPv6 packet carrying mh (checksum filled in place), with a Home Address option if home is given.
    The checksum uses the home address as source when present (RFC 3775 6.1.1)."""
    # Pseudo-header Next Header: RFC 3775 6.1.1 prints 2; RFC 6275 6.1.1 (which obsoletes it)
    # and Linux use 135 (IPPROTO_MH), so 135 is what peers check.
    icmp6.set_checksum(mh, home if home is not None else src, dst, icmp6.NH_MH, 4)
    if home is None:
        return icmp6.ipv6_header(src, dst, icmp6.NH_MH, len(mh), hlim) + bytes(mh)
    return icmp6.ipv6_header(src, dst, icmp6.NH_DSTOPTS, 24 + len(mh), hlim) + hao(icmp6.NH_MH, home) + bytes(mh)


def parse_packet(buf):
    """(IPv6 header, home address or None, MH) of an IPv6 packet carrying an FBU or FBack."""
    ip = icmp6.IPv6(buf)
    p = ip.payload
    home = None
    nh = ip.nh
    if nh == icmp6.NH_DSTOPTS:
        nh, home, n = parse_dstopts(p)
        p = p[n:]
    if nh != icmp6.NH_MH:
        raise ParseError("no Mobility Header", "no_mh")
    return ip, home, parse(p)


def checksum_ok(m, src, dst, home=None):
    # Next Header 135 in the pseudo-header, as in packet().
    return icmp6.checksum_ok(m.raw, home if home is not None else src, dst, icmp6.NH_MH, 4)
