"""fmipkey_hw's mpi core (mbedtls_mpi_exp_mod, the ESP32's RSA peripheral path)
built against Debian's libmbedcrypto: random 1024/2048-bit exponentiations
equal Python's pow, and an RSA signature the firmware makes with the core as
its modexp backend verifies under OpenSSL (`cryptography`)."""
import ctypes
import random
import sys
import types

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa as crsa

import hwbuild

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def core():
    hwbuild.need("mbedtls/bignum.h", "libmbedtls-dev")
    lib = ctypes.CDLL(str(hwbuild.gcc("libfmipkey_mpi.so", [hwbuild.HW / "mpi.c"], ["-lmbedcrypto"], shared=True)))
    f = lib.fmipkey_mpi_modexp
    f.restype = ctypes.c_int
    f.argtypes = [ctypes.c_char_p, ctypes.c_size_t] * 3 + [ctypes.c_void_p, ctypes.c_size_t]

    def modexp(base, exp, mod):
        """The binding's contract (modfmipkey_hw.c) over the C core."""
        k = (mod.bit_length() + 7) // 8
        b, e, n = (x.to_bytes(max(1, (x.bit_length() + 7) // 8), "big") for x in (base, exp, mod))
        out = ctypes.create_string_buffer(k)
        ret = f(b, len(b), e, len(e), n, len(n), out, k)
        if ret:
            raise ValueError("mbedtls error %d" % ret)
        return int.from_bytes(out.raw, "big")
    return modexp


@pytest.mark.parametrize("bits", [1024, 2048])
def test_modexp_equals_pow_mbedtls(core, bits):
    rng = random.Random(bits)
    for i in range(20):
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        base = rng.getrandbits(bits + 8 if i % 5 == 0 else bits - 1)   # some bases exceed n
        exp = rng.getrandbits(bits if i % 2 else 17)
        assert core(base, exp, n) == pow(base, exp, n)
    assert core(5, 0, n) == 1
    assert core(0, 3, n) == 0


def test_modexp_refuses_an_even_modulus_mbedtls(core):
    with pytest.raises(ValueError):
        core(3, 5, 1 << 1023)


@pytest.fixture
def hw_backend(core, monkeypatch):
    """The firmware's crypto backend with fmipkey_hw importing (its modexp is the C core)."""
    calls = []

    def modexp(b, e, n):
        calls.append(n)
        return core(b, e, n)
    import fmipkey.crypto
    from fmipkey.crypto import backend, rsa   # loaded before the monkeypatch: undo puts them back
    monkeypatch.setitem(sys.modules, "fmipkey_hw", types.SimpleNamespace(modexp=modexp))
    for name in ("backend", "rsa"):
        monkeypatch.delitem(sys.modules, "fmipkey.crypto." + name)
        monkeypatch.delattr(fmipkey.crypto, name)
    from fmipkey.crypto import backend, rsa
    return backend, rsa, calls


@pytest.mark.parametrize("bits", [1024, 2048])
def test_rsa_signature_through_mbedtls_verifies_under_openssl_mbedtls(hw_backend, bits):
    backend, rsa, calls = hw_backend
    assert backend.modexp.startswith("fmipkey_hw")
    from fmipkey.crypto import der
    key = crsa.generate_private_key(65537, bits)
    pem = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    priv = der.parse_private_key(pem)
    msg = b"RtSolPr signed on the ESP32's RSA peripheral path"
    sig = rsa.sign(priv, msg, "sha1")     # SEND's RSA Signature option: PKCS#1 v1.5 over SHA-1
    key.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA1())   # raises if wrong
    assert calls, "the signature did not go through the mbedTLS core"
