# The one seam for primitives: the rest of the firmware asks here for hashes,
# AES, modular exponentiation and randomness, so a port's accelerator plugs in
# at one place.
import hashlib
import os
from fmipkey.errors import CryptoError

sha1 = hashlib.sha1
sha256 = hashlib.sha256
random_bytes = os.urandom


def powmod(base, exp, mod):
    # An RSA accelerator would go here; software pow is the default.
    return pow(base, exp, mod)


try:
    from cryptolib import aes as _aes

    def _ecb(key, encrypt):
        # A cryptolib.aes object may only encrypt or only decrypt: make one per call.
        c = _aes(key, 1)
        return c.encrypt if encrypt else c.decrypt
except ImportError:
    # Host-side fallback: CPython has no cryptolib, so host tests of the key
    # store use `cryptography`'s AES-ECB. Never reached on a board.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def _ecb(key, encrypt):
        c = Cipher(algorithms.AES(bytes(key)), modes.ECB())
        ctx = c.encryptor() if encrypt else c.decryptor()

        def run(data):
            if len(data) % 16:
                raise ValueError("blksize % 16")
            return ctx.update(bytes(data))
        return run


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
