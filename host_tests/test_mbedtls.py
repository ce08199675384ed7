"""The mbedTLS modexp backend (crypto/mbedtls.py) over the real libmbedcrypto (Debian's
libmbedtls-dev, installed by `make tools`), reached through ffi_ctypes: MicroPython's ffi
API over ctypes. MicroPython's own ffi path is not run here (the unix port in .venv has no
ffi); what runs is the binding's every call against the C library OpenWrt links."""
import random
import sys

import pytest

import ffi_ctypes
import test_ar_interop
from fmipkey import crypto
from fmipkey.crypto import backend, der, rsa


def _has_libmbedcrypto():
    for name in ("libmbedcrypto.so", "libmbedcrypto.so.16", "libmbedcrypto.so.7"):
        try:
            ffi_ctypes.open(name)
            return True
        except OSError:
            pass
    return False


pytestmark = pytest.mark.skipif(not _has_libmbedcrypto(), reason="no libmbedcrypto: make tools installs "
                                "libmbedtls-dev")


def forget():
    """No ffi, and the binding imported anew next time (it binds `ffi` at import)."""
    sys.modules.pop("ffi", None)
    sys.modules.pop("fmipkey.crypto.mbedtls", None)
    if hasattr(crypto, "mbedtls"):
        del crypto.mbedtls


def use(ffi_module, names):
    forget()
    sys.modules["ffi"] = ffi_module
    return backend.use_modexp(names)


@pytest.fixture
def mbedtls():
    """backend.powmod from libmbedcrypto for the test; software pow again afterwards."""
    try:
        yield use(ffi_ctypes, None)
    finally:
        forget()
        assert backend.use_modexp() == "software (pow)"


def test_chosen_first_and_named(mbedtls):
    assert mbedtls.startswith("mbedtls (libmbedcrypto.so") and backend.modexp == mbedtls
    assert backend.powmod.__module__ == "fmipkey.crypto.mbedtls"


@pytest.mark.parametrize("bits", [1024, 2048])
def test_random_exponentiations_equal_pow(mbedtls, bits):
    rng = random.Random(bits)
    for _ in range(25):
        mod = rng.getrandbits(bits) | 1 << (bits - 1) | 1
        base, exp = rng.getrandbits(bits + 8), rng.getrandbits(bits)  # base above mod on purpose
        assert backend.powmod(base, exp, mod) == pow(base, exp, mod)
    mod = rng.getrandbits(bits) | 1
    for base, exp in ((0, 5), (5, 0), (1, mod - 1), (mod - 1, 2), (mod, 3)):
        assert backend.powmod(base, exp, mod) == pow(base, exp, mod), (base, exp)
    # even moduli are outside mbedTLS's exp_mod: answered by pow
    assert backend.powmod(3, 5, 1 << bits) == pow(3, 5, 1 << bits)


def test_rsa_private_operations_on_mbedtls(mbedtls):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    for name in ("rsa1024_a.pem", "rsa2048_a.pem"):
        theirs = test_ar_interop.load(name)
        blob = theirs.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption())
        ours = der.parse_private_key(blob)
        sig = rsa.sign(ours, b"signed on mbedTLS")
        theirs.public_key().verify(sig, b"signed on mbedTLS", padding.PKCS1v15(), hashes.SHA1())
        ct = theirs.public_key().encrypt(b"k" * 20, padding.PKCS1v15())
        assert rsa.decrypt(ours, ct) == b"k" * 20


def test_ar_exchange_on_mbedtls_passes_the_interop_tests(mbedtls):
    calls = []
    inner = backend.powmod

    def counted(b, e, m):
        calls.append(m)
        return inner(b, e, m)
    backend.powmod = counted
    test_ar_interop.test_hk_reply_decrypts_with_cryptography()
    test_ar_interop.test_rsa2048_exchange()
    test_ar_interop.test_fback_badf_recomputes_with_hmac()
    assert len(calls) > 20 and any(m.bit_length() == 1024 for m in calls)  # 2048-bit keys: 1024-bit CRT halves


class NoLibrary:
    """An ffi whose every library fails to open, as on a router without libmbedcrypto."""

    @staticmethod
    def open(name, flags=0):
        raise OSError(2, "no such file: %s" % name)


class WrongLibrary:
    """An ffi where every name opens a library without the mbedtls_mpi_* symbols (libc)."""

    @staticmethod
    def open(name, flags=0):
        return ffi_ctypes.open("libc.so.6")


class SilentLibrary:
    """An ffi whose mbedtls_* calls all return 0 and write nothing: the ABI mismatch that
    gives wrong numbers instead of errors."""

    class Lib:
        @staticmethod
        def func(ret, name, args):
            return lambda *a: None if ret == "v" else 0

    @staticmethod
    def open(name, flags=0):
        return SilentLibrary.Lib()


def test_no_library_falls_back_to_pow():
    try:
        assert use(NoLibrary, None) == "software (pow)" and backend.powmod is pow
        with pytest.raises(Exception, match="no modexp among mbedtls"):
            use(NoLibrary, ["mbedtls"])
        assert use(WrongLibrary, None) == "software (pow)"
        assert use(SilentLibrary, None) == "software (pow)"   # its self-check answer was wrong
    finally:
        forget()
        backend.use_modexp()
