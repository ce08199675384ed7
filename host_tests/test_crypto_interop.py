# Our firmware crypto against code we did not write: OpenSSL through
# `cryptography` and the openssl CLI, CPython's hmac; hypothesis fuzzing of the
# DER, X.509 and CGA parsers (only ParseError may escape).
import hashlib
import hmac as py_hmac
import subprocess
from pathlib import Path

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import given, settings, strategies as st

from fmipkey.crypto import cga, der, hmac, rsa, x509
from fmipkey.errors import ParseError, VerifyError

DATA = Path(__file__).parent / "fw" / "data"
KEYS = ["rsa1024_a.pem", "rsa1024_b.pem", "rsa2048_a.pem", "rsa2048_b.pem", "rsa1024_pkcs8.pem"]
HASHES = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}
CERTS = sorted(p.stem[len("cert_"):] for p in DATA.glob("cert_*.der"))
NOW = 1893456000  # 2030-01-01


def both(name):
    pem = (DATA / name).read_bytes()
    return der.parse_private_key(der.pem_decode(pem)[0][1]), serialization.load_pem_private_key(pem, None)


@pytest.mark.parametrize("name", KEYS)
def test_private_numbers_match(name):
    ours, theirs = both(name)
    pn = theirs.private_numbers()
    assert (ours.n, ours.e, ours.d) == (pn.public_numbers.n, pn.public_numbers.e, pn.d)
    assert (ours.p, ours.q, ours.dp, ours.dq, ours.qinv) == (pn.p, pn.q, pn.dmp1, pn.dmq1, pn.iqmp)


@pytest.mark.parametrize("name", KEYS)
def test_encodings_match(name):
    ours, theirs = both(name)
    spki = theirs.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert der.encode_spki(ours.public) == spki
    pkcs1 = theirs.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())
    assert der.encode_private_key(ours) == pkcs1
    pem = der.pem_encode("RSA PRIVATE KEY", pkcs1)
    assert serialization.load_pem_private_key(pem.encode(), None).private_numbers() == theirs.private_numbers()


@pytest.mark.parametrize("alg", ["sha1", "sha256"])
@pytest.mark.parametrize("name", KEYS[:4])
def test_signatures_interoperate(name, alg):
    ours, theirs = both(name)
    for msg in (b"", b"SEND signed data", bytes(range(256)) * 3):
        sig = rsa.sign(ours, msg, alg)
        theirs.public_key().verify(sig, msg, padding.PKCS1v15(), HASHES[alg])  # raises if bad
        their_sig = theirs.sign(msg, padding.PKCS1v15(), HASHES[alg])
        assert sig == their_sig  # PKCS#1 v1.5 signatures are deterministic
        assert rsa.verify(ours.public, msg, their_sig, alg)
        assert not rsa.verify(ours.public, msg + b"x", their_sig, alg)


@pytest.mark.parametrize("name", KEYS[:4])
def test_encryption_interoperates(name):
    ours, theirs = both(name)
    for msg in (b"", b"\x01" * 20, bytes(ours.size - 11)):
        assert theirs.decrypt(rsa.encrypt(ours.public, msg), padding.PKCS1v15()) == msg
        assert rsa.decrypt(ours, theirs.public_key().encrypt(msg, padding.PKCS1v15())) == msg


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["sha1", "sha256"]), st.binary(max_size=200), st.binary(max_size=200))
def test_hmac_matches_cpython(alg, key, msg):
    assert hmac.digest(alg, key, msg) == py_hmac.new(key, msg, getattr(hashlib, alg)).digest()


def test_certificates_read_as_cryptography_reads_them():
    for name in CERTS:
        raw = (DATA / ("cert_%s.der" % name)).read_bytes()
        ours, theirs = x509.parse(raw), cx509.load_der_x509_certificate(raw)
        assert bytes(ours.tbs) == theirs.tbs_certificate_bytes
        assert bytes(ours.signature) == theirs.signature
        assert ours.sig_alg == theirs.signature_hash_algorithm.name
        assert bytes(ours.subject) == theirs.subject.public_bytes()
        assert bytes(ours.issuer) == theirs.issuer.public_bytes()
        assert ours.not_before == int(theirs.not_valid_before_utc.timestamp())
        assert ours.not_after == int(theirs.not_valid_after_utc.timestamp())
        pub = theirs.public_key().public_numbers()
        if ours.public_key is None:
            assert name == "router_ec" and not hasattr(pub, "e")
        else:
            assert (ours.public_key.n, ours.public_key.e) == (pub.n, pub.e)
        bc = theirs.extensions.get_extension_for_class(cx509.BasicConstraints).value
        assert (ours.is_ca, ours.path_len) == (bc.ca, bc.path_length)


def _openssl_verdict(name):
    # openssl verify with the fixture root as trust anchor and cert_ca as intermediate
    # (OpenSSL checks RFC 3779 containment itself); EKU is ours alone to check.
    pem = lambda n: cx509.load_der_x509_certificate((DATA / ("cert_%s.der" % n)).read_bytes()).public_bytes(
        serialization.Encoding.PEM)
    tmp = Path("/tmp/fmipkey_interop_%s" % name)
    tmp.mkdir(exist_ok=True)
    for n in ("root", "ca", "ca_not_ca", name):
        (tmp / (n + ".pem")).write_bytes(pem(n))
    (tmp / "untrusted.pem").write_bytes(pem("ca") + pem("ca_not_ca"))
    proc = subprocess.run(["openssl", "verify", "-auth_level", "0", "-attime", str(NOW),
                           "-CAfile", str(tmp / "root.pem"), "-untrusted", str(tmp / "untrusted.pem"),
                           str(tmp / (name + ".pem"))], capture_output=True, text=True)
    return proc.returncode == 0


@pytest.mark.parametrize("name", [n for n in CERTS if n.startswith("router")])
def test_path_verdicts_agree_with_openssl(name):
    chain = [x509.parse((DATA / ("cert_%s.der" % n)).read_bytes()) for n in (name, "ca", "ca_not_ca")]
    chain = [c for c in chain if c.subject == chain[0].issuer or c is chain[0]]
    anchors = [x509.parse((DATA / "cert_root.der").read_bytes())]
    try:
        x509.validate_path(chain, anchors, NOW)
        ours = True
    except VerifyError as e:
        ours = str(e)
    theirs = _openssl_verdict(name)
    send_only = {"router_wrong_eku": "sendRouter", "router_no_eku": "sendRouter",  # openssl verify has
                 "router_encipher": "digitalSignature", "router_ec": "not RSA"}  # no SEND profile (RFC 6494)
    if name in send_only:
        assert theirs is True and send_only[name] in ours
    else:
        assert (ours is True) == theirs, (name, ours)


def test_openssl_reads_our_ip_blocks_fixture():
    out = subprocess.run(["openssl", "x509", "-inform", "der", "-noout", "-text", "-in", str(DATA / "cert_router.der")],
                         capture_output=True, text=True, check=True).stdout
    assert "sbgp-ipAddrBlock: critical" in out
    assert "2001:db8:1234::/48" in out and "2001:db8:2000::/40" in out


def test_non_minimal_der_refused_by_cryptography_too():
    # Each re-encoding our DER reader refuses (issue 13) is one OpenSSL's Rust ASN.1 parser
    # refuses as well: proof that they are not DER, not just not what we expect.
    raw = (DATA / "cert_ca.der").read_bytes()
    assert raw[1] == 0x82
    i = raw.index(bytes.fromhex("0101ff"))
    variants = [raw[:1] + b"\x83\x00" + raw[2:],                   # outer length in 3 octets, leading zero
                raw[:i] + bytes.fromhex("010101") + raw[i + 3:]]     # BOOLEAN TRUE as 01
    off = 4 + 4 + 5                                                  # the serialNumber TLV
    n = raw[off + 1]
    bad = bytearray(raw[:off] + bytes((2, n + 1, 0)) + raw[off + 2:])   # a leading zero octet
    for at in (2, 6):
        bad[at:at + 2] = (int.from_bytes(bad[at:at + 2], "big") + 1).to_bytes(2, "big")
    variants.append(bytes(bad))
    for v in variants:
        with pytest.raises(ValueError):
            cx509.load_der_x509_certificate(v)
        with pytest.raises(ParseError):
            x509.parse(v)


# --- fuzzing: every parser answers with a record or ParseError ---------------

SEED_DER = [(DATA / ("cert_%s.der" % n)).read_bytes() for n in CERTS] + [
    der.pem_decode((DATA / k).read_text())[0][1] for k in KEYS]
CGA_VECTOR = bytes.fromhex(
    "89a8a8b2e858d8b8f2633f44d2d4ce9bfe8000000000000000"
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454"
    "f10bd9cea36844b530e9211a4b262b16467cb7dfba1f595c0194f275be5a4d38"
    "6f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf0203010001")
CGA_ADDR = bytes.fromhex("fe800000000000003c4a5bf6ffb4ca6c")


def mutate(seed, flips, cut):
    b = bytearray(seed)
    for pos, val in flips:
        b[pos % len(b)] = val
    return bytes(b[:cut])


def only_parse_error(fn, buf):
    try:
        fn(buf)
    except ParseError:
        pass


FLIPS = st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 255)), max_size=5)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(SEED_DER), FLIPS, st.integers(0, 3000))
def test_fuzz_der_and_x509(seed, flips, cut):
    buf = mutate(seed, flips, cut)
    for fn in (x509.parse, der.parse_private_key, der.parse_spki):
        only_parse_error(fn, buf)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(buf):
    for fn in (x509.parse, der.parse_private_key, der.parse_spki, cga.parse, der.pem_decode):
        only_parse_error(fn, buf)


@settings(max_examples=2000, deadline=None)
@given(FLIPS, st.integers(0, 200), st.binary(max_size=12))
def test_fuzz_cga(flips, cut, tail):
    buf = mutate(CGA_VECTOR, flips, cut) + tail
    only_parse_error(cga.parse, buf)
    try:
        cga.verify(CGA_ADDR, buf)
    except VerifyError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KEYS[:4]), st.binary(min_size=1, max_size=256))
def test_decrypt_garbage_fails_uniformly(name, ct):
    ours, _ = both(name)
    ct = ct.rjust(ours.size, b"\x00")[:ours.size]
    try:
        rsa.decrypt(ours, ct)
    except Exception as e:  # an accidental valid padding is fine too
        assert type(e).__name__ == "CryptoError" and e.args == ("decryption failed",)
