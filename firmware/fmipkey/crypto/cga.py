# Cryptographically Generated Addresses (RFC 3972, RFC 4581 extension fields):
# the device only parses and verifies; the modifier search runs on the host.
from fmipkey.crypto import backend
from fmipkey.crypto.der import read_tlv
from fmipkey.errors import ParseError, VerifyError

_ZERO9 = bytes(9)


class Params:
    def __init__(self, modifier, prefix, collisions, public_key_der, ext):
        self.modifier = modifier
        self.prefix = prefix
        self.collisions = collisions
        self.public_key_der = public_key_der
        self.ext = ext


def _key_end(mv):
    # The public key is one DER TLV after modifier, prefix and collision count;
    # the extension fields after it are TLVs of 16-bit type and 16-bit length.
    end = len(mv)
    if end < 25:
        raise ParseError("CGA parameters too short")
    _, _, key_end = read_tlv(mv, 25, end)
    off = key_end
    while off < end:
        if off + 4 > end:
            raise ParseError("CGA extension field truncated")
        off += 4 + ((mv[off + 2] << 8) | mv[off + 3])
    if off != end:
        raise ParseError("CGA extension field overruns")
    return key_end


def parse(buf):
    mv = memoryview(buf)
    k = _key_end(mv)
    return Params(bytes(mv[0:16]), bytes(mv[16:24]), mv[24], bytes(mv[25:k]), bytes(mv[k:]))


def encode(modifier, prefix, collisions, public_key_der, ext=b""):
    if len(modifier) != 16 or len(prefix) != 8 or not 0 <= collisions <= 255:
        raise ValueError("CGA modifier, prefix or collision count")
    return bytes(modifier) + bytes(prefix) + bytes((collisions,)) + bytes(public_key_der) + bytes(ext)


def _hash1(mv):
    # SHA-1 over Modifier | Prefix | Collision Count | Public Key | Extensions:
    # exactly the parameters as encoded.
    return backend.sha1(mv).digest()


def address(params_buf, sec):
    """The address (16 octets) the parameters give for security parameter sec."""
    mv = memoryview(params_buf)
    _key_end(mv)
    h = _hash1(mv)
    return bytes(mv[16:24]) + bytes(((sec << 5) | (h[0] & 0x1C),)) + h[1:8]


def verify(addr, params_buf):
    """RFC 3972 section 5: check addr against the CGA parameters and return its Sec.
    Every failure, malformed parameters included, raises VerifyError."""
    mv = memoryview(params_buf)
    try:
        _key_end(mv)
    except ParseError as e:
        raise VerifyError("CGA parameters: %s" % e.args[0], "cga")
    if len(addr) != 16:
        raise VerifyError("CGA address length", "cga")
    if mv[24] > 2:
        raise VerifyError("CGA collision count", "cga")
    if mv[16:24] != addr[0:8]:
        raise VerifyError("CGA subnet prefix", "cga")
    h = _hash1(mv)
    diff = (h[0] ^ addr[8]) & 0x1C  # ignore the 3 Sec bits and the u and g bits
    for i in range(1, 8):
        diff |= h[i] ^ addr[8 + i]
    if diff:
        raise VerifyError("CGA hash1", "cga")
    sec = addr[8] >> 5
    if sec:
        h2 = backend.sha1(mv[0:16])
        h2.update(_ZERO9)
        h2.update(mv[25:])
        h = h2.digest()
        for i in range(2 * sec):
            if h[i]:
                raise VerifyError("CGA hash2", "cga")
    return sec
