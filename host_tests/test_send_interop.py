# SEND interop: messages assembled here from the RFC text with hashlib/struct and signed by
# `cryptography` verify with our send.verify, and ours verify with `cryptography`.
import hashlib
import struct

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fmipkey import send
from fmipkey.crypto import der
from fmipkey.errors import VerifyError
from fmipkey.wire import fmip, ndopt
from fmipkey.clock import at as now_at

TAG = bytes.fromhex("086FCA5E10B200C99C8CE00164277C08")   # RFC 3971 5.2
PREFIX = bytes.fromhex("fe80000000000000")
AR = bytes.fromhex("fe800000000000000000000000000001")
NOW = 1700000000


def csum(src, dst, msg):
    # RFC 4443 2.3 / RFC 2460 8.1, word by word
    data = src + dst + struct.pack(">I3xB", len(msg), 58) + msg + (b"\x00" if len(msg) % 2 else b"")
    s = sum(struct.unpack(">%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def with_csum(src, dst, msg):
    return msg[:2] + struct.pack(">H", csum(src, dst, msg[:2] + b"\0\0" + msg[4:])) + msg[4:]


def opt(t, payload):
    n = 2 + len(payload)
    return bytes((t, (n + 7) // 8)) + payload + bytes(-n % 8)


def cga_address(params):
    # RFC 3972 4 with Sec 0: Hash1 -> interface identifier with u, g and Sec bits cleared
    h = hashlib.sha1(params).digest()[:8]
    return params[16:24] + bytes((h[0] & 0x1C,)) + h[1:]


def rfc_rtsolpr(key, ts, nonce):
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    params = bytes(range(100, 116)) + PREFIX + b"\x00" + spki
    src = cga_address(params)
    pad = -(4 + len(params)) % 8
    cga_opt = bytes((11, (4 + len(params) + pad) // 8, pad, 0)) + params + bytes(pad)
    hk_pad = -(4 + len(spki)) % 8
    hk_opt = bytes((27, (4 + len(spki) + hk_pad) // 8, hk_pad, 0x10)) + spki + bytes(hk_pad)
    msg = (bytes((154, 0, 0, 0, 2, 0)) + struct.pack(">H", 0x4242) + hk_opt + cga_opt
           + opt(13, bytes(6) + struct.pack(">Q", ts << 16)) + opt(14, nonce))
    msg = with_csum(src, AR, msg)                          # checksum of the unsigned message
    sig = key.sign(TAG + src + AR + msg, padding.PKCS1v15(), hashes.SHA1())
    msg = msg + opt(12, b"\0\0" + hashlib.sha1(spki).digest()[:16] + sig)
    return src, with_csum(src, AR, msg)


@pytest.mark.parametrize("bits", [1024, 2048])
def test_cryptography_signature_verifies_with_ours(bits):
    key = rsa.generate_private_key(65537, bits)
    src, msg = rfc_rtsolpr(key, NOW, b"abcdef")
    m = fmip.parse(msg)
    v = send.verify(m, src, AR, now_at(NOW), solicitation=True)
    assert v.sec == 0 and v.key.n == key.public_key().public_numbers().n and bytes(v.nonce) == b"abcdef"
    at, k = ndopt.parse_hk_request(m.raw, *m.find(ndopt.HK_REQUEST))
    assert at == 1 and der.parse_spki(k).n == v.key.n
    bad = bytearray(msg)
    bad[7] ^= 1
    with pytest.raises(VerifyError):
        send.verify(fmip.parse(bytes(bad)), src, AR, now_at(NOW))


def test_our_signature_verifies_with_cryptography():
    key = rsa.generate_private_key(65537, 1024)
    pem = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    priv = der.parse_private_key(pem)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    params = bytes(16) + PREFIX + b"\x00" + spki
    src = cga_address(params)
    msg = bytes(send.message(src, AR, fmip.RtSolPr.emit(7), priv, cga_params=params, now=now_at(NOW), nonce=b"abcdef"))
    assert csum(src, AR, msg[:2] + b"\0\0" + msg[4:]) == struct.unpack(">H", msg[2:4])[0]
    # RFC 3971 5.2: the RSA Signature option is last; cut there and rebuild the signed data
    sig_off = 8
    while msg[sig_off] != 12:
        sig_off += msg[sig_off + 1] * 8
    unsigned = with_csum(src, AR, msg[:sig_off])
    kh, sig = msg[sig_off + 4:sig_off + 20], msg[sig_off + 20:sig_off + 20 + 128]
    assert kh == hashlib.sha1(spki).digest()[:16]
    key.public_key().verify(sig, TAG + src + AR + unsigned, padding.PKCS1v15(), hashes.SHA1())
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, TAG + src + AR + msg[:sig_off], padding.PKCS1v15(), hashes.SHA1())
