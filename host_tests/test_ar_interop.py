# AR interop: an RtSolPr assembled from the RFC text and signed by `cryptography` gets a
# PrRtAdv whose signature `cryptography` verifies and whose Handover Key Reply it decrypts
# (RSAES-PKCS1-v1_5) to the key the AR stored; the FBack's BADF recomputes with Python's hmac.
import hashlib
import hmac
import shutil
import struct
import sys

import pytest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from test_send_interop import TAG, cga_address, csum, opt, with_csum
from fmipkey.clock import at as now_at

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/fw")
from arfix import ALL_ROUTERS, AP_NAR, AP_UNKNOWN, NCOA, NOW, Node, binding, cps, fbu, key, make_ar, rtsolpr  # noqa: E402
from fwtest import DATA  # noqa: E402

from fmipkey.wire import mh  # noqa: E402


def load(name):
    with open(DATA + name, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def rfc_rtsolpr(cga_key, hkepk, dst, at, nonce=b"NONCE9"):
    params = bytes(range(100, 116)) + bytes.fromhex("fe80000000000000") + b"\x00" + spki(cga_key)
    src = cga_address(params)
    pad = -(4 + len(params)) % 8
    cga_opt = bytes((11, (4 + len(params) + pad) // 8, pad, 0)) + params + bytes(pad)
    k = spki(hkepk)
    hk_pad = -(4 + len(k)) % 8
    hk_opt = bytes((27, (4 + len(k) + hk_pad) // 8, hk_pad, at << 4)) + k + bytes(hk_pad)
    new_ap = opt(19, b"\x01" + bytes.fromhex("020000000101"))
    msg = (bytes((154, 0, 0, 0, 2, 0)) + struct.pack(">H", 0x4242) + new_ap + hk_opt + cga_opt
           + opt(13, bytes(6) + struct.pack(">Q", NOW << 16)) + opt(14, nonce))
    msg = with_csum(src, dst, msg)
    sig = cga_key.sign(TAG + src + dst + msg, padding.PKCS1v15(), hashes.SHA1())
    msg = with_csum(src, dst, msg + opt(12, b"\0\0" + hashlib.sha1(spki(cga_key)).digest()[:16] + sig))
    ip = struct.pack(">IHBB", 0x60000000, len(msg), 58, 255) + src + dst + msg
    return src, ip


def options(msg, start):
    """[(type, offset, end)] of the ND options from start, read here from the RFC layout."""
    out, off = [], start
    while off < len(msg):
        out.append((msg[off], off, off + msg[off + 1] * 8))
        off += msg[off + 1] * 8
    return out


def exchange(at, cga_name="rsa1024_b.pem", hkepk_name="rsa1024_pkcs8.pem"):
    ar = make_ar()
    cga_key, hkepk = load(cga_name), load(hkepk_name)
    src, pkt = rfc_rtsolpr(cga_key, hkepk, ar.addr, at)
    (out,) = ar.handle(pkt, now_at(NOW))
    assert out[6] == 58 and out[7] == 255 and out[8:24] == ar.addr and out[24:40] == src
    msg = out[40:]
    assert csum(ar.addr, src, msg[:2] + b"\0\0" + msg[4:]) == struct.unpack(">H", msg[2:4])[0]
    assert msg[0] == 154 and msg[4] == 3 and msg[6:8] == b"\x42\x42"
    opts = options(msg, 8)
    types = [o[0] for o in opts]
    assert types[-5:] == [28, 11, 13, 14, 12]                 # HK Reply, CGA, Timestamp, Nonce, RSA Signature
    byt = {t: msg[s:e] for t, s, e in opts}
    assert byt[14][2:] == b"NONCE9"
    # RSA Signature over TAG | src | dst | the message cut before it, with that cut's checksum
    sig_at = opts[-1][1]
    cut = with_csum(ar.addr, src, msg[:2] + b"\0\0" + msg[4:sig_at])
    ar_pub = ar.id.key.public
    pub = load("rsa1024_a.pem").public_key()
    assert pub.public_numbers().n == ar_pub.n
    assert byt[12][4:20] == hashlib.sha1(spki(load("rsa1024_a.pem"))).digest()[:16]
    pub.verify(byt[12][20:20 + ar_pub.size], TAG + ar.addr + src + cut, padding.PKCS1v15(), hashes.SHA1())
    # Handover Key Reply: Pad Length, AT, Key Lifetime, encrypted key
    r = byt[28]
    pad = r[2]
    assert len(r) == 6 + hkepk.key_size // 8 + pad
    key = hkepk.decrypt(r[6:len(r) - pad], padding.PKCS1v15())
    stored = ar.keystore.get(src, NOW)
    assert key == bytes(stored[0]) and r[3] >> 4 == stored[1] and struct.unpack(">H", r[4:6])[0] == 43200
    return ar, src, key, r[3] >> 4


def test_hk_reply_decrypts_with_cryptography():
    for at, n in ((0, 20), (1, 32)):
        ar, src, key, got = exchange(at)
        assert got == at and len(key) == n


def test_rsa2048_exchange():
    ar, src, key, at = exchange(1, "rsa2048_a.pem", "rsa2048_b.pem")
    assert len(key) == 32


def test_fback_badf_recomputes_with_hmac():
    for at in (0, 1):
        ar, src, key, at = exchange(at)
        alg, n = (hashlib.sha1, 12) if at == 0 else (hashlib.sha256, 16)
        m, off = mh.Fbu.emit(7, 120, alt_coa=NCOA, auth_len=n)
        # FBU authenticator made here from the RFC text: coa | par | MH with checksum zero, up to the Authenticator
        m[off:] = hmac.new(key, NCOA + ar.addr + bytes(m[:off]), alg).digest()[:n]
        (out,) = ar.handle(mh.packet(src, ar.addr, m, home=src), now_at(NOW))
        assert out[6] == 135 and out[24:40] == src
        fb = out[40:]
        assert fb[2] == 9 and fb[6] == 0 and struct.unpack(">H", fb[8:10])[0] == 7    # accepted, same seq
        # BADF last: type 21, length SPI + Authenticator, SPI 0
        b = len(fb) - n - 6
        assert fb[b] == 21 and fb[b + 1] == 4 + n and fb[b + 2:b + 6] == bytes(4)
        data = NCOA + ar.addr + fb[:4] + b"\0\0" + fb[6:len(fb) - n]
        assert fb[len(fb) - n:] == hmac.new(key, data, alg).digest()[:n]
        assert binding(ar, src) == (NCOA, NOW + 120)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_tshark_dissects_what_the_ar_sends(tmp_path):
    from test_tshark import QUIRK, dissect
    ar = make_ar(mac=b"\x02\x00\x00\x00\x00\x09")
    mn = Node("rsa1024_b.pem")
    sol = rtsolpr(mn, ar.addr, key("rsa1024_pkcs8.pem").public, aps=((1, AP_NAR), (1, AP_UNKNOWN)))
    (adv,) = ar.handle(sol, now_at(NOW))
    cpas = ar.handle(cps(mn.addr, ALL_ROUTERS), now_at(NOW))
    (fb,) = ar.handle(fbu(mn.addr, ar.addr, bytes(ar.keystore.get(mn.addr, NOW)[0]), 0), now_at(NOW))
    f = dissect(tmp_path, [adv] + cpas + [fb])
    assert f[0]["icmpv6.code"] == ["3"] and f[0]["icmpv6.checksum.status"] == ["1"]
    assert f[0]["icmpv6.opt.type"] == ["19", "19", "19", "17", "17", "19", "28", "11", "13", "14", "12"]
    assert f[0]["_ws.expert.message"] == [QUIRK]          # the known HK Reply quirk, nothing else
    for c in f[1:3]:
        assert c["icmpv6.type"] == ["149"] and c["icmpv6.checksum.status"] == ["1"] and "_ws.expert.message" not in c
    assert f[3]["mip6.mhtype"] == ["9"] and f[3]["mip6.fback.status"] == ["0"] and "_ws.expert.message" not in f[3]
