# X.509 certificates for SEND router authorization (RFC 3971 6.3, RFC 5280,
# RFC 3779 IP address blocks, RFC 6494 EKUs): just the fields path validation
# needs, read in place from the DER.
from fmipkey.compat import const
from fmipkey.crypto import backend, der, rsa
from fmipkey.crypto.der import BIT_STRING, INTEGER, OCTET_STRING, OID, SEQUENCE, expect, read_tlv
from fmipkey.errors import ParseError, VerifyError

BOOLEAN = const(0x01)
NULL = const(0x05)
UTC_TIME = const(0x17)
GENERALIZED_TIME = const(0x18)

# keyUsage named bits (RFC 5280 4.2.1.3) as bits of Certificate.key_usage.
KU_DIGITAL_SIGNATURE = const(0x01)
KU_KEY_CERT_SIGN = const(0x20)

EKU_SEND_ROUTER = "1.3.6.1.5.5.7.3.23"
MAX_IP_BLOCKS = const(64)  # bounds the memory an address extension may take

_SIG_ALGS = (
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05", "sha1"),    # sha1WithRSAEncryption
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b", "sha256"),  # sha256WithRSAEncryption
)
_BASIC_CONSTRAINTS = b"\x55\x1d\x13"
_KEY_USAGE = b"\x55\x1d\x0f"
_EXT_KEY_USAGE = b"\x55\x1d\x25"
_IP_ADDR_BLOCKS = b"\x2b\x06\x01\x05\x05\x07\x01\x07"
_COMMON_NAME = b"\x55\x04\x03"
_ALL_ONES = (1 << 128) - 1


def oid_str(buf):
    """Dotted text of an OID's content octets."""
    if not len(buf) or buf[-1] & 0x80:
        raise ParseError("DER: bad OID")
    parts = []
    v = 0
    for b in buf:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            if not parts:
                first = 2 if v >= 80 else v // 40
                parts.append(first)
                v -= 40 * first
            parts.append(v)
            v = 0
    return ".".join(str(p) for p in parts)


def _days(y, m, d):
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _time(buf, off, end):
    # UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ -> (Unix seconds, next).
    tag, vs, ve = read_tlv(buf, off, end)
    n = ve - vs
    if not ((tag == UTC_TIME and n == 13) or (tag == GENERALIZED_TIME and n == 15)) or buf[ve - 1] != 0x5A:
        raise ParseError("X.509: bad time")
    digits = []
    for i in range(vs, ve - 1, 2):
        hi, lo = buf[i] - 0x30, buf[i + 1] - 0x30
        if not (0 <= hi <= 9 and 0 <= lo <= 9):
            raise ParseError("X.509: bad time")
        digits.append(hi * 10 + lo)
    if tag == UTC_TIME:
        year = digits[0] + (1900 if digits[0] >= 50 else 2000)  # RFC 5280 4.1.2.5.1
    else:
        year = digits[0] * 100 + digits[1]
        digits = digits[1:]
    mo, d, h, mi, s = digits[1:]
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        raise ParseError("X.509: bad time")
    return ((_days(year, mo, d) * 24 + h) * 60 + mi) * 60 + s, ve


def _bits(buf, vs, ve, fill):
    # An RFC 3779 address BIT STRING -> (128-bit int, number of bits); bits after
    # the given ones are `fill` (0 for a prefix or a range's min, 1 for a range's max).
    if vs == ve or buf[vs] > 7 or ve - vs > 17 or (ve - vs == 1 and buf[vs]):
        raise ParseError("X.509: bad address bit string")
    nbits = (ve - vs - 1) * 8 - buf[vs]
    v = int.from_bytes(bytes(buf[vs + 1:ve]) + bytes(17 - (ve - vs)), "big")
    host = _ALL_ONES >> nbits
    return (v | host) if fill else (v & ~host & _ALL_ONES), nbits


def _range_prefixes(lo, hi, out):
    # The fewest prefixes covering exactly lo..hi (RFC 3779 addressRange).
    while lo <= hi:
        plen = 128
        while plen and not lo & ((2 << (128 - plen)) - 1) and lo + (2 << (128 - plen)) - 1 <= hi:
            plen -= 1
        _add_block(out, lo, plen)
        lo += 1 << (128 - plen)


def _add_block(out, v, plen):
    if len(out) >= MAX_IP_BLOCKS:
        raise ParseError("X.509: too many address blocks")
    out.append((v.to_bytes(16, "big"), plen))


def _ip_blocks(buf, vs, ve):
    # IPAddrBlocks -> (IPv6 prefixes, inherit). Other families are not ours to check.
    blocks, inherit = [], False
    fs, fe = expect(buf, vs, ve, SEQUENCE)
    if fe != ve:
        raise ParseError("X.509: trailing data in address blocks")
    while fs < fe:
        s, e = expect(buf, fs, fe, SEQUENCE)
        fs = e
        as_, ae = expect(buf, s, e, OCTET_STRING)
        ipv6 = ae - as_ in (2, 3) and buf[as_] == 0 and buf[as_ + 1] == 2
        tag, cs, ce = read_tlv(buf, ae, e)
        if ce != e:
            raise ParseError("X.509: trailing data in address family")
        if tag == NULL:
            inherit = inherit or ipv6
            continue
        if tag != SEQUENCE:
            raise ParseError("X.509: bad address choice")
        while cs < ce:
            tag, ps, pe = read_tlv(buf, cs, ce)
            cs = pe
            if tag == BIT_STRING:
                v, nbits = _bits(buf, ps, pe, 0)
                if ipv6:
                    _add_block(blocks, v, nbits)
            elif tag == SEQUENCE:
                ms, me = expect(buf, ps, pe, BIT_STRING)
                xs, xe = expect(buf, me, pe, BIT_STRING)
                if xe != pe:
                    raise ParseError("X.509: bad address range")
                lo, hi = _bits(buf, ms, me, 0)[0], _bits(buf, xs, xe, 1)[0]
                if ipv6:
                    _range_prefixes(lo, hi, blocks)
            else:
                raise ParseError("X.509: bad address entry")
    return blocks, inherit


def _bool(buf, vs, ve):
    if ve - vs != 1 or buf[vs] not in (0x00, 0xFF):   # DER: TRUE is FF, nothing else
        raise ParseError("DER: bad boolean")
    return buf[vs] == 0xFF


class Certificate:
    """One parsed certificate; byte fields are memoryviews into .der."""

    def __init__(self, buf):
        if not isinstance(buf, bytes):
            buf = bytes(buf)
        self.der = buf
        mv = memoryview(buf)
        end = len(mv)
        cs, ce = expect(mv, 0, end, SEQUENCE)
        if ce != end:
            raise ParseError("X.509: trailing data")
        tag, ts, te = read_tlv(mv, cs, ce)
        if tag != SEQUENCE:
            raise ParseError("X.509: no tbsCertificate")
        self.tbs = mv[cs:te]
        as_, ae = expect(mv, te, ce, SEQUENCE)
        outer_alg = mv[as_:ae]
        self.sig_alg = _sig_alg(mv, as_, ae)
        bs, be = expect(mv, ae, ce, BIT_STRING)
        if be != ce or bs == be or mv[bs]:
            raise ParseError("X.509: bad signature bit string")
        self.signature = mv[bs + 1:be]
        self._tbs(mv, ts, te, outer_alg)

    def _tbs(self, mv, off, end, outer_alg):
        tag, vs, ve = read_tlv(mv, off, end)
        version = 0
        if tag == 0xA0:  # [0] EXPLICIT version
            version, o = der.read_int(mv, vs, ve)
            if o != ve:
                raise ParseError("X.509: bad version")
            off = ve
        vs, off = expect(mv, off, end, INTEGER)  # serialNumber: not needed, any INTEGER
        der.check_int(mv, vs, off)
        as_, off = expect(mv, off, end, SEQUENCE)
        if mv[as_:off] != outer_alg:
            raise ParseError("X.509: signature algorithms differ")
        vs, off = _tlv_span(mv, off, end, SEQUENCE)
        self.issuer = mv[vs:off]
        vs, ve = expect(mv, off, end, SEQUENCE)
        self.not_before, o = _time(mv, vs, ve)
        self.not_after, o = _time(mv, o, ve)
        if o != ve:
            raise ParseError("X.509: bad validity")
        vs, off = _tlv_span(mv, ve, end, SEQUENCE)
        self.subject = mv[vs:off]
        vs, off = _tlv_span(mv, off, end, SEQUENCE)
        self.public_key = der.read_spki(mv, vs, off)
        self.is_ca = False
        self.path_len = None
        self.key_usage = None
        self.eku = None
        self.ip_blocks = None
        self.ip_inherit = True  # no address extension: RFC 3971 6.3.1 uses the parent's
        self.unknown_critical = None
        while off < end:
            tag, vs, ve = read_tlv(mv, off, end)
            off = ve
            if tag == 0xA3:
                if version != 2:
                    raise ParseError("X.509: extensions in a v1/v2 certificate")
                self._extensions(mv, vs, ve)
            elif tag not in (0x81, 0x82):  # issuer/subject unique IDs are ignored
                raise ParseError("X.509: unexpected field in tbsCertificate")

    def _extensions(self, mv, vs, ve):
        s, e = expect(mv, vs, ve, SEQUENCE)
        if e != ve:
            raise ParseError("X.509: trailing data after extensions")
        seen = []
        while s < e:
            xs, xe = expect(mv, s, e, SEQUENCE)
            s = xe
            os_, o = expect(mv, xs, xe, OID)
            oid = bytes(mv[os_:o])
            critical = False
            tag, bs, be = read_tlv(mv, o, xe)
            if tag == BOOLEAN:
                critical = _bool(mv, bs, be)
                o = be
            vs2, ve2 = expect(mv, o, xe, OCTET_STRING)
            if ve2 != xe:
                raise ParseError("X.509: bad extension")
            if oid in seen:
                raise ParseError("X.509: duplicate extension")
            seen.append(oid)
            if oid == _BASIC_CONSTRAINTS:
                self._basic_constraints(mv, vs2, ve2)
            elif oid == _KEY_USAGE:
                self.key_usage = _key_usage(mv, vs2, ve2)
            elif oid == _EXT_KEY_USAGE:
                self.eku = _eku(mv, vs2, ve2)
            elif oid == _IP_ADDR_BLOCKS:
                self.ip_blocks, self.ip_inherit = _ip_blocks(mv, vs2, ve2)
                if self.ip_inherit:
                    self.ip_blocks = None
            elif critical and self.unknown_critical is None:
                self.unknown_critical = oid_str(oid)

    def _basic_constraints(self, mv, vs, ve):
        s, e = expect(mv, vs, ve, SEQUENCE)
        if s < e and mv[s] == BOOLEAN:
            tag, bs, s = read_tlv(mv, s, e)
            self.is_ca = _bool(mv, bs, s)
        if s < e:
            self.path_len, s = der.read_int(mv, s, e)
        if s != e or e != ve:
            raise ParseError("X.509: bad basicConstraints")

    def name(self):
        """The subject's common name, for error reasons."""
        return common_name(self.subject)


def _tlv_span(mv, off, end, tag):
    # (start of the whole TLV, its end): for fields kept as raw DER.
    vs, ve = expect(mv, off, end, tag)
    return off, ve


def _sig_alg(mv, vs, ve):
    os_, oe = expect(mv, vs, ve, OID)
    if oe != ve:
        ps, pe = expect(mv, oe, ve, NULL)
        if ps != pe or pe != ve:
            raise ParseError("X.509: bad algorithm parameters")
    oid = mv[os_:oe]
    for raw, name in _SIG_ALGS:
        if oid == raw:
            return name
    return None  # parsed, but validate_path cannot check it


def _key_usage(mv, vs, ve):
    bs, be = expect(mv, vs, ve, BIT_STRING)
    if be != ve or bs == be or mv[bs] > 7:
        raise ParseError("X.509: bad keyUsage")
    mask = 0
    for j in range(bs + 1, be):
        b = mv[j]
        for i in range(8):
            if b & (0x80 >> i):
                mask |= 1 << ((j - bs - 1) * 8 + i)
    return mask


def _eku(mv, vs, ve):
    s, e = expect(mv, vs, ve, SEQUENCE)
    if e != ve:
        raise ParseError("X.509: bad extKeyUsage")
    out = []
    while s < e:
        os_, s = expect(mv, s, e, OID)
        out.append(oid_str(mv[os_:s]))
    return out


def common_name(name):
    """The first commonName in a DER Name, or "?"."""
    try:
        s, e = expect(name, 0, len(name), SEQUENCE)
        while s < e:
            rs, re_ = expect(name, s, e, 0x31)  # RelativeDistinguishedName SET
            s = re_
            while rs < re_:
                as_, ae = expect(name, rs, re_, SEQUENCE)
                rs = ae
                os_, oe = expect(name, as_, ae, OID)
                if name[os_:oe] == _COMMON_NAME:
                    _, vs, ve = read_tlv(name, oe, ae)
                    return bytes(name[vs:ve]).decode()
    except (ParseError, UnicodeError):
        pass
    return "?"


def parse(buf):
    return Certificate(buf)


def _intervals(blocks):
    # Prefixes -> merged, sorted [(lo, hi)] of 128-bit ints.
    iv = []
    for p, plen in blocks:
        lo = int.from_bytes(p, "big")
        iv.append((lo, lo | (_ALL_ONES >> plen)))
    iv.sort()
    out = []
    for lo, hi in iv:
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _inside(intervals, prefix, plen):
    lo = int.from_bytes(prefix, "big") & ~(_ALL_ONES >> plen)
    hi = lo | (_ALL_ONES >> plen)
    for a, b in intervals:
        if a <= lo and hi <= b:
            return True
    return False


def covers(cert, prefix, plen=128):
    """True if the IPv6 prefix/plen (an address for 128) lies inside cert.ip_blocks.
    A certificate without blocks (unconstrained, or not yet resolved by validate_path)
    covers nothing: a caller that wants RFC 3971 7.3's unconstrained routers must
    test `cert.ip_blocks is None` itself."""
    if cert.ip_blocks is None:
        return False
    return _inside(_intervals(cert.ip_blocks), prefix, plen)


def _fail(cert, depth, why):
    raise VerifyError("certificate %d (%s): %s" % (depth, cert.name(), why))


def _build(chain, anchors):
    # The path leaf..anchor by issuer/subject match; the leaf is the one
    # certificate that issues no other certificate of the chain.
    leaves = [c for c in chain
              if not [o for o in chain if o is not c and o.issuer == c.subject and o.subject != c.subject]]
    if len(leaves) != 1:
        raise VerifyError("chain has %d end certificates" % len(leaves))
    path = [leaves[0]]
    while len(path) <= len(chain):
        top = path[-1]
        for a in anchors:
            if a.subject == top.issuer:
                return path, a
        up = [c for c in chain if c.subject == top.issuer and c not in path]
        if not up:
            break
        path.append(up[0])
    _fail(path[-1], len(path) - 1, "issuer is not in the chain nor a trust anchor")


def validate_path(chain, anchors, now, min_bits=1024, max_bits=2048):
    """Validate certificates (Certificate objects or DER, any order) up to one of
    `anchors`; return the end-entity certificate, its ip_blocks resolved.

    The chain comes from an unauthenticated sender, so what it may cost is bounded:
    every check that needs no RSA runs on every certificate first (among them: each
    key is RSA and passes rsa.check_peer_key within min_bits..max_bits;
    the anchors are configuration and exempt), then the signatures are checked from the
    anchor down, so each key is used only once its own certificate has verified. A
    forged certificate costs at most one verification with an anchor's key. The leaf
    must be a SEND router certificate (RFC 6494): digitalSignature and id-kp-sendRouter."""
    chain = [c if isinstance(c, Certificate) else parse(c) for c in chain]
    if not chain:
        raise VerifyError("empty certificate chain")
    path, anchor = _build(chain, anchors)
    issuers = path[1:] + [anchor]
    # Resolve and check RFC 3779 blocks from the anchor down, into `resolved` (by depth): the
    # certificates get their inherited blocks only once the whole path has checked out.
    above = None if anchor.ip_inherit else anchor.ip_blocks
    resolved = [None] * len(path)
    for depth in range(len(path) - 1, -1, -1):
        c = path[depth]
        if not c.ip_inherit:
            if above is not None:
                iv = _intervals(above)
                for p, plen in c.ip_blocks:
                    if not _inside(iv, p, plen):
                        _fail(c, depth, "address block outside its issuer's")
            above = c.ip_blocks
        resolved[depth] = above
    if anchor.public_key is None:
        _fail(anchor, len(path), "trust anchor key is not RSA")
    cas_below = 0
    for depth in range(len(path)):
        c, iss = path[depth], issuers[depth]
        if not c.not_before <= now <= c.not_after:
            _fail(c, depth, "not valid at this time")
        if c.unknown_critical:
            _fail(c, depth, "unknown critical extension %s" % c.unknown_critical)
        if c.sig_alg != "sha256":
            _fail(c, depth, "signed with %s: SEND needs sha256WithRSAEncryption" % (c.sig_alg or "an unknown algorithm"))
        if c.public_key is None:
            _fail(c, depth, "key is not RSA")
        try:
            rsa.check_peer_key(c.public_key, min_bits, max_bits)
        except VerifyError as e:
            _fail(c, depth, e.args[0])
        if depth and c.is_ca:
            cas_below += 1
        where = depth + 1
        if not iss.is_ca:
            _fail(iss, where, "issuer is not a CA")
        if iss.key_usage is not None and not iss.key_usage & KU_KEY_CERT_SIGN:
            _fail(iss, where, "issuer lacks keyCertSign")
        if iss.path_len is not None and cas_below > iss.path_len:
            _fail(iss, where, "path length constraint exceeded")
    leaf = path[0]
    if leaf.key_usage is None or not leaf.key_usage & KU_DIGITAL_SIGNATURE:
        _fail(leaf, 0, "no digitalSignature key usage")
    if leaf.eku is None or EKU_SEND_ROUTER not in leaf.eku:
        _fail(leaf, 0, "no id-kp-sendRouter extended key usage")
    for depth in range(len(path) - 1, -1, -1):
        c = path[depth]
        digest = backend.hasher(c.sig_alg)(c.tbs).digest()
        if not rsa.verify_digest(issuers[depth].public_key, digest, c.signature, c.sig_alg):
            _fail(c, depth, "bad signature")
    for depth in range(len(path)):
        path[depth].ip_blocks = resolved[depth]
    return leaf
