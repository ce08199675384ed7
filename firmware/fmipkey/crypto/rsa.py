# RSA PKCS#1 v1.5 (RFC 8017): RSASSA signatures and RSAES encryption.
# Private operations use the CRT parameters; the wrapper stays thin because
# the modular exponentiation is the whole cost on the device.
from fmipkey.crypto import backend
from fmipkey.errors import CryptoError, VerifyError

# DER DigestInfo prefixes (RFC 8017 9.2 note 1), followed by the digest itself.
_DIGEST_INFO = {
    "sha1": b"\x30\x21\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14",
    "sha256": b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20",
}
_DIGEST_LEN = {"sha1": 20, "sha256": 32}


def octets(n):
    """Length of the non-negative integer n in octets, 1 for 0 (MicroPython has no int.bit_length)."""
    return (bits(n) + 7) // 8 or 1


def bits(n):
    """Length of the non-negative integer n in bits (MicroPython has no int.bit_length): the
    shortest shift that leaves nothing, found by doubling then halving. Each shift is linear in
    n's size; formatting n in hex would be quadratic, milliseconds on a peer's 6,016-bit key."""
    if n < 2:
        return n
    hi = 1
    while n >> hi:
        hi <<= 1
    lo = hi >> 1          # n >> lo is non-zero, n >> hi is zero
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if n >> mid:
            lo = mid
        else:
            hi = mid
    return hi


class PublicKey:
    def __init__(self, n, e):
        self.n = n
        self.e = e
        self.size = octets(n)
        self.bits = bits(n)   # the real modulus length: a 1017-bit n is 128 octets too

    def __eq__(self, other):
        return isinstance(other, PublicKey) and self.n == other.n and self.e == other.e


def check_peer_key(pub, min_bits, max_bits):
    """Refuse a peer's public key before any use (VerifyError, code key_size or key_exponent):
    a modulus outside min_bits..max_bits, an exponent that is even or 1 (no RSA key), or one
    above 2^32 (a verification or an encryption would cost as much as a private operation:
    work an attacker chooses). The one rule for CGA keys, certificate keys and HKEPKs."""
    if not min_bits <= pub.bits <= max_bits:
        raise VerifyError("key size %d bits, not %d..%d" % (pub.bits, min_bits, max_bits), "key_size")
    if pub.e > 0x100000000 or not pub.e & 1 or pub.e == 1:
        raise VerifyError("public exponent", "key_exponent")


class PrivateKey:
    def __init__(self, n, e, d, p, q, dp, dq, qinv):
        self.public = PublicKey(n, e)
        self.size = self.public.size
        self.n, self.e, self.d = n, e, d
        self.p, self.q, self.dp, self.dq, self.qinv = p, q, dp, dq, qinv
        self.blinding = None  # (r^e, r^-1) mod n, made at the first private operation


def _crt(priv, m1, m2):
    # The x < n with x = m1 mod p and x = m2 mod q (RFC 8017 5.1.2, 2.b.iii).
    return m2 + priv.q * (priv.qinv * (m1 - m2) % priv.p)


def _blinding(priv):
    """A blinding pair (r^e, r^-1) mod n for this operation. The first r is random; each
    later pair is the previous one squared (Kocher 1996, 10), which costs two
    multiplications instead of an inversion."""
    n, p, q = priv.n, priv.p, priv.q
    if priv.blinding is None:
        r = 0
        while r % p == 0 or r % q == 0:  # r must be invertible mod n
            r = int.from_bytes(backend.random_bytes(priv.size), "big") % n
        # r^-1 by Fermat in each half, joined by the CRT (MicroPython's pow has no modular inverse)
        pair = (backend.powmod(r, priv.e, n),
                _crt(priv, backend.powmod(r % p, p - 2, p), backend.powmod(r % q, q - 2, q)))
    else:
        a, b = priv.blinding
        pair = (a * a % n, b * b % n)
    priv.blinding = pair
    return pair


def _private(priv, c):
    # RSADP/RSASP1 with CRT (RFC 8017 5.1.2, 2.b) on c * r^e: the exponentiations then
    # work on a value unknown outside, so their timing cannot be matched to a chosen or
    # known c (an AR signs for any RtSolPr it accepts).
    p, q, n = priv.p, priv.q, priv.n
    re, rinv = _blinding(priv)
    c = c * re % n
    m = _crt(priv, backend.powmod(c % p, priv.dp, p), backend.powmod(c % q, priv.dq, q))
    return m * rinv % n


def _encoded_digest(k, digest, alg):
    # EMSA-PKCS1-v1_5 (RFC 8017 9.2): 00 01 FF..FF 00 DigestInfo.
    prefix = _DIGEST_INFO.get(alg)
    if prefix is None:
        raise CryptoError("unknown hash %s" % alg)
    if len(digest) != _DIGEST_LEN[alg]:
        raise CryptoError("digest length")
    pad = k - 3 - len(prefix) - len(digest)
    if pad < 8:
        raise CryptoError("key too short")
    return b"\x00\x01" + b"\xff" * pad + b"\x00" + prefix + bytes(digest)


def sign_digest(priv, digest, alg):
    k = priv.size
    m = int.from_bytes(_encoded_digest(k, digest, alg), "big")
    s = _private(priv, m)
    # A fault in one CRT half would make s reveal a factor of n (gcd(s^e - m, n)): check the
    # signature with the public key before it leaves (one public op, a few % of a sign).
    if backend.powmod(s, priv.e, priv.n) != m:
        raise CryptoError("signature fault")
    return s.to_bytes(k, "big")


def verify_digest(pub, digest, sig, alg):
    """True when sig is a valid signature of digest; compares the whole encoded block."""
    k = pub.size
    if len(sig) != k:
        return False
    s = int.from_bytes(sig, "big")
    if s >= pub.n:
        return False
    em = backend.powmod(s, pub.e, pub.n).to_bytes(k, "big")
    return em == _encoded_digest(k, digest, alg)


def sign(priv, data, alg="sha1"):
    return sign_digest(priv, backend.hasher(alg)(data).digest(), alg)


def verify(pub, data, sig, alg="sha1"):
    return verify_digest(pub, backend.hasher(alg)(data).digest(), sig, alg)


def encrypt(pub, msg):
    """RSAES-PKCS1-v1_5: 00 02 PS 00 msg, PS at least 8 random non-zero octets."""
    k = pub.size
    n = k - 3 - len(msg)
    if n < 8:
        raise CryptoError("message too long")
    ps = bytearray(backend.random_bytes(n))
    for i in range(n):
        while ps[i] == 0:
            ps[i] = backend.random_bytes(1)[0]
    em = b"\x00\x02" + ps + b"\x00" + bytes(msg)
    return backend.powmod(int.from_bytes(em, "big"), pub.e, pub.n).to_bytes(k, "big")


def decrypt(priv, ct):
    """RSAES-PKCS1-v1_5 decryption. Every failure is the same CryptoError, and the
    padding check reads every octet without an early exit (no padding oracle)."""
    k = priv.size
    if len(ct) != k:
        raise CryptoError("decryption failed")
    c = int.from_bytes(ct, "big")
    if c >= priv.n:
        raise CryptoError("decryption failed")
    em = _private(priv, c).to_bytes(k, "big")
    bad = em[0] | (em[1] ^ 2)
    sep = 0  # index of the first zero after 00 02, found without branching on data
    for i in range(2, k):
        zero = ((em[i] - 1) >> 8) & 1
        unset = ((sep - 1) >> 31) & 1
        sep |= -(zero & unset) & i
    bad |= ((sep - 10) >> 31) & 1  # no separator (sep 0) or PS shorter than 8
    if bad:
        raise CryptoError("decryption failed")
    return em[sep + 1:]
