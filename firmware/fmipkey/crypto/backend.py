# The one seam for primitives: the rest of the firmware asks here for hashes,
# AES, modular exponentiation and randomness, so a port's accelerator plugs in
# at one place.
import hashlib
import os
import sys
from fmipkey.errors import CryptoError

sha1 = hashlib.sha1
sha256 = hashlib.sha256
random_bytes = os.urandom


def powmod(base, exp, mod):
    # An RSA accelerator would go here; software pow is the default.
    return pow(base, exp, mod)


def _ecb_maker(aes, implementation):
    """The AES-ECB factory `(key, encrypt) -> function(data)`: the port's cryptolib.aes; on
    CPython (host tests), `cryptography`; on a port without cryptolib, one that raises
    CryptoError when used, so hashes, RSA, CGA and SEND still import and work."""
    if aes is not None:
        def ecb(key, encrypt):
            # A cryptolib.aes object may only encrypt or only decrypt: make one per call.
            c = aes(key, 1)
            return c.encrypt if encrypt else c.decrypt
        return ecb
    if implementation == "cpython":
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        def ecb(key, encrypt):
            c = Cipher(algorithms.AES(bytes(key)), modes.ECB())
            ctx = c.encryptor() if encrypt else c.decryptor()

            def run(data):
                if len(data) % 16:
                    raise ValueError("blksize % 16")
                return ctx.update(bytes(data))
            return run
        return ecb

    def none(key, encrypt):
        raise CryptoError("no AES on this port (cryptolib)")
    return none


try:
    from cryptolib import aes as _aes
except ImportError:
    _aes = None
_ecb = _ecb_maker(_aes, sys.implementation.name)


class aes_ecb:
    """AES in ECB mode with a 16/24/32-octet key; data is a whole number of blocks."""

    def __init__(self, key):
        self.key = bytes(key)

    def encrypt(self, data):
        return _ecb(self.key, True)(data)

    def decrypt(self, data):
        return _ecb(self.key, False)(data)


def hasher(alg):
    """The hash constructor for "sha1" or "sha256"."""
    if alg == "sha1":
        return sha1
    if alg == "sha256":
        return sha256
    raise CryptoError("unknown hash %s" % alg)
