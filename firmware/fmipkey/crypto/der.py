# A minimal DER reader/writer: TLVs, RSA keys (SPKI, PKCS#1, PKCS#8) and PEM.
# The reader never copies: it returns offsets into the caller's buffer.
import binascii
from fmipkey.compat import const
from fmipkey.crypto import rsa
from fmipkey.errors import ParseError

INTEGER = const(0x02)
BIT_STRING = const(0x03)
OCTET_STRING = const(0x04)
NULL = const(0x05)
OID = const(0x06)
SEQUENCE = const(0x30)

# rsaEncryption 1.2.840.113549.1.1.1, as DER content octets.
RSA_ENCRYPTION = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"


def read_tlv(buf, off, end):
    """The TLV at buf[off:end] -> (tag, value_start, value_end). Single-octet tags,
    definite lengths of at most 4 octets in their shortest form (DER: one encoding per
    value, so the bytes a signature or hash covers cannot be re-encoded); the value must
    fit before end."""
    if off + 2 > end:
        raise ParseError("DER: truncated header")
    tag = buf[off]
    if tag & 0x1F == 0x1F:
        raise ParseError("DER: multi-octet tag")
    ln = buf[off + 1]
    off += 2
    if ln & 0x80:
        nb = ln & 0x7F
        if nb == 0 or nb > 4 or off + nb > end:
            raise ParseError("DER: bad length")
        ln = 0
        for i in range(nb):
            ln = (ln << 8) | buf[off + i]
        if ln < 0x80 or not buf[off]:
            raise ParseError("DER: length not in its shortest form")
        off += nb
    if ln > end - off:
        raise ParseError("DER: value overruns")
    return tag, off, off + ln


def expect(buf, off, end, tag):
    """read_tlv requiring `tag`: -> (value_start, value_end)."""
    t, vs, ve = read_tlv(buf, off, end)
    if t != tag:
        raise ParseError("DER: tag %02x, expected %02x" % (t, tag))
    return vs, ve


def check_int(buf, vs, ve):
    """Refuse INTEGER content that is empty or has a leading octet beyond the sign's."""
    if vs == ve:
        raise ParseError("DER: empty integer")
    if ve - vs > 1 and (buf[vs] == 0 and not buf[vs + 1] & 0x80 or buf[vs] == 0xFF and buf[vs + 1] & 0x80):
        raise ParseError("DER: integer not in its shortest form")


def read_int(buf, off, end):
    """A non-negative INTEGER at off -> (value, next_off)."""
    vs, ve = expect(buf, off, end, INTEGER)
    check_int(buf, vs, ve)
    if buf[vs] & 0x80:
        raise ParseError("DER: negative integer")
    return int.from_bytes(buf[vs:ve], "big"), ve


def tlv(tag, content):
    """Encode one TLV."""
    n = len(content)
    if n < 0x80:
        head = bytes((tag, n))
    else:
        ln = n.to_bytes(rsa.octets(n), "big")
        head = bytes((tag, 0x80 | len(ln))) + ln
    return head + content


def encode_int(n):
    body = n.to_bytes(rsa.octets(n), "big")
    if body[0] & 0x80:
        body = b"\x00" + body
    return tlv(INTEGER, body)


def _is_rsa_algorithm(buf, vs, ve):
    # AlgorithmIdentifier: True for { rsaEncryption, NULL or absent parameters },
    # False for another algorithm.
    os_, oe = expect(buf, vs, ve, OID)
    if buf[os_:oe] != RSA_ENCRYPTION:
        return False
    if oe != ve:
        ps, pe = expect(buf, oe, ve, NULL)
        if ps != pe or pe != ve:
            raise ParseError("DER: bad RSA parameters")
    return True


def _parse_rsa_public(buf, off, end):
    # RSAPublicKey ::= SEQUENCE { modulus, publicExponent }
    vs, ve = expect(buf, off, end, SEQUENCE)
    n, o = read_int(buf, vs, ve)
    e, o = read_int(buf, o, ve)
    if o != ve or ve != end:
        raise ParseError("DER: trailing data in RSA key")
    return rsa.PublicKey(n, e)


def read_spki(buf, off, end):
    """The SubjectPublicKeyInfo in buf[off:end] (exactly) -> PublicKey, or None for a
    well-formed key of another algorithm."""
    vs, ve = expect(buf, off, end, SEQUENCE)
    if ve != end:
        raise ParseError("DER: trailing data after key")
    as_, ae = expect(buf, vs, ve, SEQUENCE)
    rsa_key = _is_rsa_algorithm(buf, as_, ae)
    bs, be = expect(buf, ae, ve, BIT_STRING)
    if be != ve or bs == be or buf[bs] != 0:
        raise ParseError("DER: bad key bit string")
    return _parse_rsa_public(buf, bs + 1, be) if rsa_key else None


def spki_at(buf, off, end):
    """The RSA SubjectPublicKeyInfo in buf[off:end] (exactly) -> PublicKey."""
    key = read_spki(buf, off, end)
    if key is None:
        raise ParseError("not an RSA key")
    return key


def parse_spki(buf):
    return spki_at(memoryview(buf), 0, len(buf))


def encode_spki(pub):
    alg = tlv(SEQUENCE, tlv(OID, RSA_ENCRYPTION) + b"\x05\x00")
    key = tlv(SEQUENCE, encode_int(pub.n) + encode_int(pub.e))
    return tlv(SEQUENCE, alg + tlv(BIT_STRING, b"\x00" + key))


def _parse_pkcs1(buf, off, end):
    # RSAPrivateKey ::= SEQUENCE { version 0, n, e, d, p, q, dp, dq, qinv }
    vs, ve = expect(buf, off, end, SEQUENCE)
    if ve != end:
        raise ParseError("DER: trailing data after key")
    version, o = read_int(buf, vs, ve)
    if version != 0:
        raise ParseError("RSA key: multi-prime or unknown version")
    v = []
    for _ in range(8):
        x, o = read_int(buf, o, ve)
        v.append(x)
    if o != ve:
        raise ParseError("DER: trailing data in RSA key")
    return rsa.PrivateKey(*v)


def parse_private_key(buf):
    """PKCS#1 RSAPrivateKey or PKCS#8 PrivateKeyInfo holding one -> PrivateKey."""
    mv = memoryview(buf)
    end = len(mv)
    vs, ve = expect(mv, 0, end, SEQUENCE)
    _, o = read_int(mv, vs, ve)
    tag, _, _ = read_tlv(mv, o, ve)
    if tag == INTEGER:
        return _parse_pkcs1(mv, 0, end)
    # PKCS#8: version, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey }, [attributes]
    if ve != end:
        raise ParseError("DER: trailing data after key")
    as_, ae = expect(mv, o, ve, SEQUENCE)
    if not _is_rsa_algorithm(mv, as_, ae):
        raise ParseError("not an RSA key")
    ks, ke = expect(mv, ae, ve, OCTET_STRING)
    return _parse_pkcs1(mv, ks, ke)


def encode_private_key(priv):
    body = encode_int(0)
    for x in (priv.n, priv.e, priv.d, priv.p, priv.q, priv.dp, priv.dq, priv.qinv):
        body += encode_int(x)
    return tlv(SEQUENCE, body)


def pem_decode(text):
    """Every PEM block in text (str or bytes) -> [(label, der), ...]. Reads the buffer in
    place (a marker is a whole line; base64 decoding skips the line breaks): no list of
    lines and no joined copy, which on a board cost more heap than the key they hold."""
    buf = text.encode() if isinstance(text, str) else text
    mv = memoryview(buf)
    out = []
    label = body = None
    i, n = 0, len(buf)
    while i < n:
        j = buf.find(b"\n", i)
        j = n if j < 0 else j
        if buf.find(b"-----", i, j) >= 0:
            line = bytes(mv[i:j]).strip()
            if line.startswith(b"-----BEGIN ") and line.endswith(b"-----"):
                label, body = _label(line[11:-5]), j
            elif line.startswith(b"-----END ") and line.endswith(b"-----"):
                if label is None or _label(line[9:-5]) != label:
                    raise ParseError("PEM: unmatched END")
                try:
                    out.append((label, binascii.a2b_base64(mv[body:i])))
                except ValueError:
                    raise ParseError("PEM: bad base64")
                label = None
        i = j + 1
    if label is not None:
        raise ParseError("PEM: missing END")
    return out


def _label(b):
    try:
        return b.decode()
    except UnicodeError:
        raise ParseError("PEM: not text")


def pem_encode(label, der):
    b64 = binascii.b2a_base64(der).decode().replace("\n", "")
    lines = ["-----BEGIN %s-----" % label]
    for i in range(0, len(b64), 64):
        lines.append(b64[i:i + 64])
    lines.append("-----END %s-----" % label)
    return "\n".join(lines) + "\n"
