# RSA and DER with the OpenSSL-made fixture keys: round trips and tampering.
import fwtest
from fmipkey.crypto import backend, der, rsa
from fmipkey.errors import CryptoError, ParseError

KEYS = ("rsa1024_a.pem", "rsa1024_b.pem", "rsa2048_a.pem", "rsa2048_b.pem", "rsa1024_pkcs8.pem")


def key(name):
    blocks = der.pem_decode(fwtest.data(name, "r"))
    assert len(blocks) == 1
    return blocks[0], der.parse_private_key(blocks[0][1])


def flip(b, i, mask=1):
    b = bytearray(b)
    b[i] ^= mask
    return bytes(b)


def test_private_key_consistent():
    for name in KEYS:
        (label, _), k = key(name)
        assert label == ("PRIVATE KEY" if "pkcs8" in name else "RSA PRIVATE KEY")
        assert k.p * k.q == k.n
        assert k.dp == k.d % (k.p - 1) and k.dq == k.d % (k.q - 1)
        assert k.qinv * k.q % k.p == 1
        assert k.e == 65537
        assert k.size == (256 if "2048" in name else 128)


def test_pkcs1_der_round_trip():
    for name in KEYS[:4]:
        (_, d), k = key(name)
        assert der.encode_private_key(k) == d


def test_pkcs8_reencodes_as_pkcs1():
    _, k = key("rsa1024_pkcs8.pem")
    k2 = der.parse_private_key(der.encode_private_key(k))
    assert (k2.n, k2.d, k2.qinv) == (k.n, k.d, k.qinv)


def test_spki_round_trip():
    for name in KEYS:
        _, k = key(name)
        spki = der.encode_spki(k.public)
        assert spki[0] == 0x30 and spki[1] == 0x81 + (k.size > 200)
        assert der.parse_spki(spki) == k.public
        assert der.parse_spki(spki).size == k.size


def test_pem_round_trip():
    (label, d), _ = key("rsa1024_a.pem")
    text = der.pem_encode(label, d)
    assert text == fwtest.data("rsa1024_a.pem", "r")  # OpenSSL's own line layout
    two = der.pem_decode(text + text.encode().decode())
    assert two == [(label, d), (label, d)]


def test_pem_malformed():
    text = fwtest.data("rsa1024_a.pem", "r")
    fwtest.raises(ParseError, der.pem_decode, text.replace("-----END RSA PRIVATE KEY-----", ""))
    fwtest.raises(ParseError, der.pem_decode, text.replace("END RSA", "END EC"))
    fwtest.raises(ParseError, der.pem_decode, text.replace("MII", "M!I", 1))
    assert der.pem_decode("no pem here") == []


def test_der_malformed():
    (_, d), k = key("rsa1024_a.pem")
    spki = der.encode_spki(k.public)
    for bad in (d[:-1], d + b"\x00", d[:3], b"", b"\x30\x80\x00\x00"):
        fwtest.raises(ParseError, der.parse_private_key, bad)
    for bad in (spki[:-1], spki + b"\x00", flip(spki, 6, 0x10), b"\x1f\x01\x00"):
        fwtest.raises(ParseError, der.parse_spki, bad)
    e = fwtest.raises(ParseError, der.parse_spki, spki.replace(der.RSA_ENCRYPTION, der.RSA_ENCRYPTION[:-1] + b"\x05"))
    assert "RSA" in e.args[0]


def test_read_tlv_long_lengths():
    buf = b"\x04\x82\x01\x00" + bytes(256)
    assert der.read_tlv(buf, 0, len(buf)) == (4, 4, 260)
    fwtest.raises(ParseError, der.read_tlv, buf, 0, len(buf) - 1)
    fwtest.raises(ParseError, der.read_tlv, b"\x04\x85\x00\x00\x00\x00\x01\x00", 0, 8)
    assert der.tlv(4, bytes(256)) == buf
    assert der.encode_int(0) == b"\x02\x01\x00" and der.encode_int(128) == b"\x02\x02\x00\x80"


def test_der_lengths_in_shortest_form():
    # One encoding per value (issue 13): a long form for a length below 128, or with a
    # leading zero octet, re-encodes the same value.
    for bad in (b"\x04\x81\x05" + bytes(5), b"\x04\x82\x00\x05" + bytes(5), b"\x04\x83\x00\x01\x00" + bytes(256)):
        e = fwtest.raises(ParseError, der.read_tlv, bad, 0, len(bad))
        assert e.args[0] == "DER: length not in its shortest form"
    ok = b"\x04\x81\x80" + bytes(128)
    assert der.read_tlv(ok, 0, len(ok)) == (4, 3, 131)
    # a whole key whose outer length was re-encoded in three octets
    (_, d), k = key("rsa1024_a.pem")
    assert d[1] == 0x82
    fwtest.raises(ParseError, der.parse_private_key, d[:1] + b"\x83\x00" + d[2:])
    spki = der.encode_spki(k.public)
    fwtest.raises(ParseError, der.parse_spki, spki[:1] + b"\x82\x00" + spki[2:])


def test_der_integers_in_shortest_form():
    (_, _), k = key("rsa1024_a.pem")
    good = der.encode_spki(rsa.PublicKey(k.public.n, 65537))
    assert good[-5:] == b"\x02\x03\x01\x00\x01"
    # the exponent 65537 with a leading zero octet: every enclosing length grows by one
    body = good[:-5] + b"\x02\x04\x00\x01\x00\x01"
    bad = bytearray(body)
    for at in (2, 20, 24):          # SPKI, BIT STRING and RSAPublicKey lengths (81 xx)
        assert bad[at - 1] == 0x81
        bad[at] += 1
    e = fwtest.raises(ParseError, der.parse_spki, bytes(bad))
    assert e.args[0] == "DER: integer not in its shortest form"
    for v in (b"\x00\x7f", b"\xff\x80", b""):
        fwtest.raises(ParseError, der.check_int, v, 0, len(v))
    for v in (b"\x00", b"\x00\x80", b"\x7f", b"\xff\x7f", b"\x80"):
        der.check_int(v, 0, len(v))
    fwtest.raises(ParseError, der.read_int, b"\x02\x01\x80", 0, 3)     # negative


def test_sign_verify_round_trip():
    for name in KEYS:
        _, k = key(name)
        for alg in ("sha1", "sha256"):
            sig = rsa.sign(k, b"signed data", alg)
            assert len(sig) == k.size
            assert rsa.verify(k.public, b"signed data", sig, alg)
            assert not rsa.verify(k.public, b"signed datA", sig, alg)
            other = "sha256" if alg == "sha1" else "sha1"
            assert not rsa.verify(k.public, b"signed data", sig, other)  # wrong DigestInfo


def test_sign_digest_matches_sign():
    _, k = key("rsa1024_a.pem")
    d = backend.sha256(b"x").digest()
    assert rsa.sign_digest(k, d, "sha256") == rsa.sign(k, b"x", "sha256")
    assert rsa.verify_digest(k.public, d, rsa.sign(k, b"x", "sha256"), "sha256")
    fwtest.raises(CryptoError, rsa.sign_digest, k, d[:20], "sha256")


def test_verify_rejects_tampering():
    _, k = key("rsa1024_a.pem")
    _, other = key("rsa1024_b.pem")
    sig = rsa.sign(k, b"m")
    assert not rsa.verify(k.public, b"m", flip(sig, 5))
    assert not rsa.verify(k.public, b"m", sig[1:])
    assert not rsa.verify(k.public, b"m", b"\x00" + sig)
    assert not rsa.verify(other.public, b"m", sig)
    # s + n is the same residue but not a valid signature value (s >= n).
    s = int.from_bytes(sig, "big") + k.n
    if s < 256 ** k.size:
        assert not rsa.verify(k.public, b"m", s.to_bytes(k.size, "big"))
    assert not rsa.verify(k.public, b"m", k.n.to_bytes(k.size, "big"))


def test_verify_rejects_bad_digestinfo():
    # A correctly padded block whose DigestInfo names another hash.
    _, k = key("rsa1024_a.pem")
    d = backend.sha1(b"m").digest()
    bad_info = b"\x30\x21\x30\x09\x06\x05\x2b\x0e\x03\x02\x1b\x05\x00\x04\x14" + d
    em = b"\x00\x01" + b"\xff" * (k.size - 3 - len(bad_info)) + b"\x00" + bad_info
    sig = pow(int.from_bytes(em, "big"), k.d, k.n).to_bytes(k.size, "big")
    assert not rsa.verify(k.public, b"m", sig)


def test_encrypt_decrypt_round_trip():
    for name in KEYS:
        _, k = key(name)
        for msg in (b"", b"\x00handover key\x00", bytes(range(k.size - 11))):
            ct = rsa.encrypt(k.public, msg)
            assert len(ct) == k.size
            assert rsa.decrypt(k, ct) == msg
        assert rsa.encrypt(k.public, b"k") != rsa.encrypt(k.public, b"k")  # random padding
        fwtest.raises(CryptoError, rsa.encrypt, k.public, bytes(k.size - 10))


def test_encrypt_padding_format():
    _, k = key("rsa1024_a.pem")
    for _ in range(5):
        em = pow(int.from_bytes(rsa.encrypt(k.public, b"abc"), "big"), k.d, k.n).to_bytes(k.size, "big")
        assert em[:2] == b"\x00\x02" and em[-4:] == b"\x00abc"
        assert 0 not in em[2:-4]


def _raw_encrypt(k, em):
    return pow(int.from_bytes(em, "big"), k.e, k.n).to_bytes(k.size, "big")


def test_decrypt_failures_uniform():
    _, k = key("rsa1024_a.pem")
    n = k.size
    good = b"\x00\x02" + b"\x11" * (n - 7) + b"\x00abcd"
    assert rsa.decrypt(k, _raw_encrypt(k, good)) == b"abcd"
    bad = [
        b"\x00\x01" + good[2:],                          # wrong block type
        b"\x01\x02" + good[2:],                          # wrong first octet
        b"\x00\x02" + b"\x11" * (n - 2),                 # no separator
        b"\x00\x02" + b"\x11" * 7 + b"\x00" + b"\x22" * (n - 10),  # PS of 7 octets
        b"\x00\x02\x00" + b"\x22" * (n - 3),             # empty PS
    ]
    for em in bad:
        e = fwtest.raises(CryptoError, rsa.decrypt, k, _raw_encrypt(k, em))
        assert e.args == ("decryption failed",)
    ct = _raw_encrypt(k, good)
    for c in (ct[1:], ct + b"\x00", k.n.to_bytes(n, "big"), b"\xff" * n):
        e = fwtest.raises(CryptoError, rsa.decrypt, k, c)
        assert e.args == ("decryption failed",)
    # PS of exactly 8 octets is the shortest valid padding.
    em = b"\x00\x02" + b"\x11" * 8 + b"\x00" + b"\x33" * (n - 11)
    assert rsa.decrypt(k, _raw_encrypt(k, em)) == b"\x33" * (n - 11)


def test_octets():
    assert rsa.octets(0) == 1 and rsa.octets(255) == 1 and rsa.octets(256) == 2
    assert rsa.octets(1 << 1023) == 128 and rsa.octets((1 << 1024) - 1) == 128
    assert rsa.octets(1 << 6015) == 752 and rsa.octets(1 << 6016) == 753


def test_bits():
    # expected lengths by construction: 1 << k has k + 1 bits
    assert rsa.bits(0) == 0 and rsa.bits(1) == 1 and rsa.bits(255) == 8 and rsa.bits(256) == 9
    assert rsa.bits(0x10) == 5 and rsa.bits(0x7F) == 7
    for k in (1016, 1020, 1023, 2047, 6015, 65536):
        assert rsa.bits(1 << k) == k + 1 and rsa.bits((1 << k) | 1) == k + 1 and rsa.bits((1 << (k + 1)) - 1) == k + 1
    pub = rsa.PublicKey((1 << 1016) | 1, 65537)   # 128 octets, only 1017 bits
    assert pub.size == 128 and pub.bits == 1017
    assert key("rsa1024_a.pem")[1].public.bits == 1024 and key("rsa2048_a.pem")[1].public.bits == 2048


def test_sign_refuses_faulty_crt_result():
    # A wrong CRT half (as a glitch would give) yields s with s^e = m mod q but not mod p, and
    # gcd(s^e - m, n) = q: such a signature must never be released.
    _, k = key("rsa1024_a.pem")
    for bad in (rsa.PrivateKey(k.n, k.e, k.d, k.p, k.q, k.dp ^ 2, k.dq, k.qinv),
                rsa.PrivateKey(k.n, k.e, k.d, k.p, k.q, k.dp, k.dq, k.qinv + 1)):
        e = fwtest.raises(CryptoError, rsa.sign, bad, b"signed data")
        assert e.args[0] == "signature fault"
    assert rsa.verify(k.public, b"signed data", rsa.sign(k, b"signed data"))


def test_private_operations_are_blinded():
    # The CRT exponentiations must never see the input itself (it is known to, or chosen
    # by, a peer), and each operation uses a new blinding pair of the right form.
    _, k = key("rsa1024_a.pem")
    seen = []
    real = backend.powmod

    def spy(b, e, m):
        seen.append((b, e, m))
        return real(b, e, m)
    backend.powmod = spy
    try:
        pairs = []
        for msg in (b"one", b"two", b"three"):
            sig = rsa.sign(k, msg)
            pairs.append(k.blinding)
            m = int.from_bytes(rsa._encoded_digest(k.size, backend.sha1(msg).digest(), "sha1"), "big")
            crt = [(b, mod) for b, e, mod in seen if e in (k.dp, k.dq)]
            assert len(crt) == 2 and all(b != m % mod for b, mod in crt)
            seen.clear()
            assert rsa.verify(k.public, msg, sig)
        c = rsa.encrypt(k.public, b"handover key")
        assert rsa.decrypt(k, c) == b"handover key"
        crt = [(b, mod) for b, e, mod in seen if e in (k.dp, k.dq)]
        assert all(b != int.from_bytes(c, "big") % mod for b, mod in crt)
    finally:
        backend.powmod = real
    for re, rinv in pairs:
        assert real(rinv, k.e, k.n) * re % k.n == 1     # re = r^e and rinv = r^-1 for one r
    assert pairs[1] == (pairs[0][0] ** 2 % k.n, pairs[0][1] ** 2 % k.n) and pairs[0] != pairs[1]
    # two keys never share a pair
    _, k2 = key("rsa1024_b.pem")
    rsa.sign(k2, b"one")
    assert k2.blinding[1] != pairs[0][1]
