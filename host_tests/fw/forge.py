# An attacker's certificates for the security tests (CPython and MicroPython): DER built
# here, signed with a key the attacker holds or carrying junk of any length, and a spy
# that sees every RSA exponentiation.
from fmipkey.crypto import backend, der, rsa

T = der.tlv
SHA256_RSA = T(0x30, T(0x06, b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b") + b"\x05\x00")
SEND_ROUTER = b"\x2b\x06\x01\x05\x05\x07\x03\x17"


def name(cn):
    return T(0x30, T(0x31, T(0x30, T(0x06, b"\x55\x04\x03") + T(0x0C, cn.encode()))))


def _ext(oid, value):
    return T(0x30, T(0x06, oid) + b"\x01\x01\xff" + T(0x04, value))


def cert(cn, issuer, pub, ca=False, signer=None, sig_len=128, blocks=False):
    """A v3 certificate for pub named cn, issued by the DER Name `issuer` (valid 2020..2040,
    sha256WithRSA): a CA, or a SEND router certificate (digitalSignature, sendRouter; with
    `blocks`, for 2001:db8::/32). Signed by signer (a PrivateKey), else sig_len octets of junk."""
    if ca:
        exts = _ext(b"\x55\x1d\x13", T(0x30, b"\x01\x01\xff"))
    else:
        exts = _ext(b"\x55\x1d\x0f", b"\x03\x02\x07\x80") + _ext(b"\x55\x1d\x25", T(0x30, T(0x06, SEND_ROUTER)))
    if blocks:
        exts += _ext(b"\x2b\x06\x01\x05\x05\x07\x01\x07",
                     T(0x30, T(0x30, T(0x04, b"\x00\x02") + T(0x30, T(0x03, b"\x00\x20\x01\x0d\xb8")))))
    tbs = T(0x30, T(0xA0, der.encode_int(2)) + der.encode_int(7) + SHA256_RSA + bytes(issuer)
            + T(0x30, T(0x17, b"200101000000Z") + T(0x17, b"400101000000Z")) + name(cn)
            + der.encode_spki(pub) + T(0xA3, T(0x30, exts)))
    sig = rsa.sign(signer, tbs, "sha256") if signer else b"\x01" * sig_len
    return T(0x30, tbs + SHA256_RSA + T(0x03, b"\x00" + sig))


def big_key(bits, e):
    """A public key with an odd modulus of exactly `bits` bits: no one holds its private half."""
    return rsa.PublicKey((1 << (bits - 1)) | 0x1234567 | 1, e)


class Spy:
    """`with Spy(allowed) as s:` records in s.moduli the modulus of every RSA exponentiation
    (backend.powmod) and raises AssertionError for one whose modulus is not in `allowed`
    (allowed None: any but those in `forbidden`): an attacker's key never gets to cost its
    price, so a failing test fails fast."""

    def __init__(self, allowed=(), forbidden=()):
        self.allowed = allowed
        self.forbidden = forbidden
        self.moduli = []

    def __enter__(self):
        self._real = real = backend.powmod

        def spy(base, exp, mod):
            self.moduli.append(mod)
            if mod in self.forbidden or self.allowed is not None and mod not in self.allowed:
                raise AssertionError("RSA operation with an unauthenticated %d-bit key" % rsa.bits(mod))
            return real(base, exp, mod)

        backend.powmod = spy
        return self

    def __exit__(self, *exc):
        backend.powmod = self._real
        return False
