# crypto/backend.py on a port without cryptolib: everything but AES must still import and work.
import binascii
import sys

import fwtest
from fmipkey.crypto import backend
from fmipkey.errors import CryptoError

H = binascii.unhexlify
NAME = "fmipkey.crypto.backend"


class NoAes:
    """Stands in for a cryptolib module without aes: `from cryptolib import aes` fails."""


def test_port_without_cryptolib_fails_only_when_aes_is_used():
    ecb = backend._ecb_maker(None, "micropython")
    e = fwtest.raises(CryptoError, ecb, bytes(16), True)
    assert e.args[0] == "no AES on this port (cryptolib)"


def test_import_without_cryptolib():
    b = fwtest.fresh_import(NAME, [("cryptolib", NoAes())])
    assert b is not backend
    assert b.sha1(b"abc").digest() == H("a9993e364706816aba3e25717850c26c9cd0d89d")
    a = b.aes_ecb(H("000102030405060708090a0b0c0d0e0f"))
    pt = H("00112233445566778899aabbccddeeff")
    if sys.implementation.name == "cpython":
        # host tests fall back to `cryptography`; FIPS-197 C.1
        assert a.encrypt(pt) == H("69c4e0d86a7b0430d8cdb78070b4c55a")
    else:
        e = fwtest.raises(CryptoError, a.encrypt, pt)
        assert e.args[0] == "no AES on this port (cryptolib)"
    # what the daemon checks at start (main.py refuses a port that lacks them)
    assert b.missing() == ([] if sys.implementation.name == "cpython" else ["cryptolib.aes"])
    assert backend.missing() == []


def test_modexp_is_the_first_table_entry_that_loads():
    # No ffi in this interpreter (the unix port in CI has none; CPython has no such module)
    # and no fmipkey_hw (the ESP32 image's, test_esp32_hw.py): software pow loads.
    assert [e[0] for e in backend.MODEXP] == ["fmipkey_hw", "mbedtls", "software"]
    assert backend.modexp == "software (pow)" and backend.use_modexp() == "software (pow)"
    assert backend.powmod(7, 65537, 1000003) == pow(7, 65537, 1000003)
    e = fwtest.raises(CryptoError, backend.use_modexp, ["mbedtls"])
    assert e.args[0] == "no modexp among mbedtls"


class Sha256Only:
    """A hashlib as OpenWrt's micropython-nossl has it: sha256, no sha1."""

    def __init__(self, real):
        self.sha256 = real.sha256


def test_import_without_sha1_names_it_missing():
    import hashlib
    b = fwtest.fresh_import(NAME, [("hashlib", Sha256Only(hashlib))])
    assert b.sha1 is None and "hashlib.sha1" in b.missing()
    assert b.sha256(b"abc").digest() == hashlib.sha256(b"abc").digest()
