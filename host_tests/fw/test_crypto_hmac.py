# HMAC against the published RFC 2202 (SHA-1) and RFC 4231 (SHA-256) vectors.
import binascii

import fwtest
from fmipkey.crypto import backend, hmac
from fmipkey.errors import CryptoError

H = binascii.unhexlify
KEY4 = bytes(range(1, 26))
LONG1 = b"Test Using Larger Than Block-Size Key - Hash Key First"

RFC2202 = [
    (b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"),
    (b"Jefe", b"what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
    (b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
    (KEY4, b"\xcd" * 50, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
    (b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
    (b"\xaa" * 80, LONG1, "aa4ae5e15272d00e95705637ce8a3b55ed402112"),
    (b"\xaa" * 80, b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
     "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"),
]

RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (KEY4, b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, LONG1, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data."
     b" The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


def test_rfc2202_sha1():
    for key, msg, mac in RFC2202:
        assert hmac.digest("sha1", key, msg) == H(mac), mac


def test_rfc4231_sha256():
    for key, msg, mac in RFC4231:
        assert hmac.digest("sha256", key, msg) == H(mac), mac


def test_rfc4231_truncated_case5():
    mac = hmac.digest("sha256", b"\x0c" * 20, b"Test With Truncation")
    assert mac[:16] == H("a3b6167473100ee06e0c796c2955552b")


def test_memoryview_inputs():
    key, msg, mac = RFC2202[1]
    assert hmac.digest("sha1", memoryview(key), memoryview(msg)) == H(mac)


def test_equal():
    assert hmac.equal(b"abc", b"abc")
    assert not hmac.equal(b"abc", b"abd")
    assert not hmac.equal(b"\x00bc", b"abc")
    assert not hmac.equal(b"abc", b"abcd")
    assert hmac.equal(b"", b"")


def test_unknown_hash():
    fwtest.raises(CryptoError, hmac.digest, "md5", b"k", b"m")


def test_aes_ecb_fips197():
    # FIPS-197 Appendix C.1 (AES-128) and C.3 (AES-256).
    pt = H("00112233445566778899aabbccddeeff")
    k128 = H("000102030405060708090a0b0c0d0e0f")
    k256 = H("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    c128 = H("69c4e0d86a7b0430d8cdb78070b4c55a")
    c256 = H("8ea2b7ca516745bfeafc49904b496089")
    assert backend.aes_ecb(k128).encrypt(pt) == c128
    assert backend.aes_ecb(k128).decrypt(c128) == pt
    a = backend.aes_ecb(k256)
    assert a.encrypt(pt + pt) == c256 + c256
    assert a.decrypt(c256) == pt  # the same object decrypts after encrypting


def test_backend_hashes():
    assert backend.sha1(b"abc").digest() == H("a9993e364706816aba3e25717850c26c9cd0d89d")
    assert backend.sha256(b"abc").digest() == H("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert backend.powmod(4, 13, 497) == 445
    assert len(backend.random_bytes(20)) == 20
