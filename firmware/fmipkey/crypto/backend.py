# The one seam for primitives: the rest of the firmware asks here for hashes,
# AES, modular exponentiation and randomness, so a port's accelerator plugs in
# at one place.
import hashlib
import os
import sys
from fmipkey.errors import CryptoError

# getattr: OpenWrt's micropython-nossl has no sha1; the daemon refuses it (missing())
sha1 = getattr(hashlib, "sha1", None)
sha256 = hashlib.sha256
random_bytes = os.urandom


def _fmipkey_hw():
    from fmipkey_hw import modexp  # ImportError but in the ESP32 image (boards/esp32/cmodules)

    def powmod(base, exp, mod):
        # mbedTLS takes odd moduli only (Montgomery); every RSA modulus and prime is
        return modexp(base, exp, mod) if mod & 1 else pow(base, exp, mod)
    return powmod, "mbedtls_mpi_exp_mod, the RSA peripheral"


def _mbedtls():
    from fmipkey.crypto import mbedtls  # ImportError on a port without ffi
    return mbedtls.load()


# Where modular exponentiation (all of RSA's cost) comes from: each entry's loader returns
# (powmod, where) or None, or raises ImportError; the first that loads is used.
MODEXP = (
    ("fmipkey_hw", _fmipkey_hw),              # the ESP32 image's C module
    ("mbedtls", _mbedtls),                    # the unix port's ffi over libmbedcrypto (OpenWrt)
    ("software", lambda: (pow, "pow")),
)


def use_modexp(names=None):
    """Take the first entry of MODEXP (among `names` if given) that loads, as `powmod`;
    returns its description, also in `modexp`, for the daemon's start log."""
    global powmod, modexp
    for name, loader in MODEXP:
        if names is not None and name not in names:
            continue
        try:
            got = loader()
        except ImportError:
            got = None
        if got is not None:
            powmod, modexp = got[0], "%s (%s)" % (name, got[1])
            return modexp
    raise CryptoError("no modexp among %s" % ", ".join(names or ()))


powmod = modexp = None
use_modexp()


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


def missing():
    """The primitives this interpreter lacks: OpenWrt's micropython-nossl has neither
    (the AR needs SHA-1 for SEND and AES for its key store)."""
    aes = _aes is not None or sys.implementation.name == "cpython"
    return [what for what, have in (("hashlib.sha1", sha1 is not None), ("cryptolib.aes", aes)) if not have]


def hasher(alg):
    """The hash constructor for "sha1" or "sha256"."""
    if alg == "sha1":
        return sha1
    if alg == "sha256":
        return sha256
    raise CryptoError("unknown hash %s" % alg)
