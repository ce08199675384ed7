# X.509 parsing and SEND path validation on certificates made by `cryptography`
# (host_tests/make_fixtures.py): root -> ca -> router and one variant per failure.
import binascii

import forge
import fwtest
from fmipkey.crypto import der, rsa, x509
from fmipkey.errors import ParseError, VerifyError

NOW = 1893456000        # 2030-01-01T00:00:00Z
Y2020 = 1577836800      # 2020-01-01T00:00:00Z
Y2040 = 2208988800      # 2040-01-01T00:00:00Z
Y2060 = 2840140800      # 2060-01-01T00:00:00Z
H = binascii.unhexlify


def cert(name):
    return x509.parse(fwtest.data("cert_%s.der" % name))


def key(name):
    return der.parse_private_key(der.pem_decode(fwtest.data(name, "r"))[0][1])


def ip6(hexdigits):
    # the first hex digits of an address, zero-filled to 16 octets
    return H(hexdigits + "0" * (32 - len(hexdigits)))


def validate(leaf, *rest, anchor="root", now=NOW, min_bits=1024, max_bits=2048):
    return x509.validate_path([cert(leaf)] + [cert(n) for n in rest], [cert(anchor)], now, min_bits, max_bits)


def test_parse_root():
    c = cert("root")
    assert c.sig_alg == "sha256"
    assert c.issuer == c.subject and x509.common_name(c.subject) == "Test Root"
    assert c.not_before == Y2020
    assert c.not_after == Y2060  # a GeneralizedTime
    assert c.public_key == key("rsa2048_a.pem").public
    assert c.is_ca and c.path_len is None
    assert c.key_usage & x509.KU_KEY_CERT_SIGN
    assert c.eku is None
    assert c.ip_blocks == [(ip6("20010db8"), 32)]
    assert bytes(c.tbs) == c.der[4:4 + len(c.tbs)]


def test_parse_ca_range():
    c = cert("ca")
    assert c.sig_alg == "sha256"
    assert cert("ca_sha1").sig_alg == "sha1"
    assert c.not_after == Y2040  # a UTCTime
    assert c.is_ca and c.path_len == 0
    assert c.public_key == key("rsa1024_b.pem").public
    # the range 2001:db8:1000:: - 2001:db8:2fff:ffff:... is exactly two /36s
    assert c.ip_blocks == [(ip6("20010db81"), 36), (ip6("20010db82"), 36)]


def test_parse_router():
    c = cert("router")
    assert c.name() == "router1"
    assert not c.is_ca
    assert c.eku == ["1.3.6.1.5.5.7.3.23"]
    assert c.key_usage == 1  # digitalSignature only
    assert c.public_key == key("rsa1024_a.pem").public
    assert c.ip_blocks == [(ip6("20010db81234"), 48), (ip6("20010db820"), 40)]
    assert not c.ip_inherit


def test_parse_inherit_and_absent():
    for name in ("router_inherit", "router_no_blocks"):
        c = cert(name)
        assert c.ip_blocks is None and c.ip_inherit


def test_validate_good_path_any_order():
    for order in (("router", "ca"), ("ca", "router"), ("router", "ca", "root")):
        leaf = x509.validate_path([cert(n) for n in order], [cert("root")], NOW)
        assert leaf.name() == "router1"
    raw = [fwtest.data("cert_ca.der"), fwtest.data("cert_router.der")]
    assert x509.validate_path(raw, [cert("root")], NOW).name() == "router1"


def test_validity_window():
    assert validate("router", "ca", now=Y2020).name() == "router1"
    e = fwtest.raises(VerifyError, lambda: validate("router", "ca", now=Y2040 + 1))
    assert "certificate 0 (router1)" in e.args[0]
    e = fwtest.raises(VerifyError, lambda: validate("router", "ca", now=Y2020 - 1))
    assert "not valid" in e.args[0]


def test_expired():
    e = fwtest.raises(VerifyError, validate, "router_expired", "ca")
    assert "router-expired" in e.args[0] and "not valid" in e.args[0]


def test_prefix_outside_issuer():
    e = fwtest.raises(VerifyError, validate, "router_outside", "ca")
    assert "router-outside" in e.args[0] and "outside" in e.args[0]


def test_missing_ca_bit():
    e = fwtest.raises(VerifyError, validate, "router_under_not_ca", "ca_not_ca")
    assert "Not A CA" in e.args[0] and "not a CA" in e.args[0]


def test_wrong_eku():
    e = fwtest.raises(VerifyError, validate, "router_wrong_eku", "ca")
    assert "sendRouter" in e.args[0]


def test_unknown_critical_extension():
    assert cert("router_critical").unknown_critical == "1.3.6.1.4.1.55555.1"
    e = fwtest.raises(VerifyError, validate, "router_critical", "ca")
    assert "critical" in e.args[0]


def test_path_len():
    e = fwtest.raises(VerifyError, lambda: validate("router", "ca", anchor="root_pathlen0"))
    assert "path length" in e.args[0]


def test_no_anchor():
    e = fwtest.raises(VerifyError, lambda: validate("router", "ca", anchor="ca_not_ca"))
    assert "Test CA" in e.args[0]
    e = fwtest.raises(VerifyError, validate, "router")  # intermediate missing
    assert "router1" in e.args[0]
    fwtest.raises(VerifyError, x509.validate_path, [], [cert("root")], NOW)
    fwtest.raises(VerifyError, validate, "router", "router_expired", "ca")  # two end certificates


def test_bad_signature():
    raw = bytearray(fwtest.data("cert_router.der"))
    raw[-5] ^= 1
    e = fwtest.raises(VerifyError, x509.validate_path, [raw, cert("ca")], [cert("root")], NOW)
    assert "signature" in e.args[0] and "router1" in e.args[0]
    raw = bytearray(fwtest.data("cert_ca.der"))
    raw[-5] ^= 1
    e = fwtest.raises(VerifyError, x509.validate_path, [cert("router"), raw], [cert("root")], NOW)
    assert "Test CA" in e.args[0]


def test_tampered_tbs_fails_signature():
    raw = fwtest.data("cert_router.der")
    i = raw.index(b"router1")
    bad = raw[:i] + b"router2" + raw[i + 7:]
    e = fwtest.raises(VerifyError, x509.validate_path, [bad, cert("ca")], [cert("root")], NOW)
    assert "bad signature" in e.args[0]


def test_inherit_resolves_to_issuer():
    for name in ("router_inherit", "router_no_blocks"):
        leaf = validate(name, "ca")
        assert leaf.ip_blocks == cert("ca").ip_blocks


def test_rejected_path_leaves_blocks_as_parsed():
    for name in ("router_inherit", "router_no_blocks"):
        raw = bytearray(fwtest.data("cert_%s.der" % name))
        raw[-5] ^= 1                               # rejected at the last step, the signatures
        leaf = x509.parse(raw)
        assert leaf.ip_blocks is None and leaf.ip_inherit
        e = fwtest.raises(VerifyError, x509.validate_path, [leaf, cert("ca")], [cert("root")], NOW)
        assert "bad signature" in e.args[0]
        assert leaf.ip_blocks is None
        # an expired path (checked after the blocks) leaves them too
        leaf = cert(name)
        fwtest.raises(VerifyError, x509.validate_path, [leaf, cert("ca")], [cert("root")], Y2060)
        assert leaf.ip_blocks is None


def test_covers():
    leaf = validate("router", "ca")
    assert x509.covers(leaf, ip6("20010db8123400000000000000000001"))
    assert x509.covers(leaf, ip6("20010db81234"), 64)
    assert x509.covers(leaf, ip6("20010db81234"), 48)
    assert not x509.covers(leaf, ip6("20010db81234"), 47)
    assert not x509.covers(leaf, ip6("20010db81235"), 64)
    assert x509.covers(leaf, ip6("20010db820ff"), 64)
    ca = cert("ca")
    assert not x509.covers(ca, ip6("20010db8"), 32)
    assert not x509.covers(ca, ip6("20010db82"), 35)  # 2000-3fff: half outside
    assert x509.covers(ca, ip6("20010db818"), 37)     # 1800-1fff
    assert x509.covers(ca, ip6("20010db82fff"), 48)
    assert not x509.covers(ca, ip6("20010db83"), 48)
    assert not x509.covers(cert("router_no_blocks"), ip6("20010db81234"), 64)  # unresolved: nothing


def test_parse_rejects_truncation():
    raw = fwtest.data("cert_router.der")
    for n in (0, 1, 10, 100, len(raw) - 1):
        fwtest.raises(ParseError, x509.parse, raw[:n])
    fwtest.raises(ParseError, x509.parse, raw + b"\x00")


def test_oid_str():
    assert x509.oid_str(H("2b060105050703")) == "1.3.6.1.5.5.7.3"
    assert x509.oid_str(H("2a864886f70d010101")) == "1.2.840.113549.1.1.1"
    assert x509.oid_str(H("8837")) == "2.999"
    fwtest.raises(ParseError, x509.oid_str, H("2b86"))


def test_non_rsa_leaf():
    c = cert("router_ec")
    assert c.public_key is None
    e = fwtest.raises(VerifyError, validate, "router_ec", "ca")
    assert "router-ec" in e.args[0] and "not RSA" in e.args[0]
    spki = bytes(c.tbs)[bytes(c.tbs).index(b"\x30\x59\x30\x13"):][:0x5b]  # the P-256 SubjectPublicKeyInfo
    e = fwtest.raises(ParseError, der.parse_spki, spki)
    assert e.args[0] == "not an RSA key"


# --- what an unauthenticated sender can make path validation cost (issue 13) ----------

ROOT_N = cert("root").public_key.n


def forged_path(ca_key, leaf_signer=None, leaf_sig_len=128):
    """[leaf, intermediate]: an intermediate for ca_key naming Test Root as its issuer, with
    a junk signature, and a router certificate under it (signed by leaf_signer or junk)."""
    ca = forge.cert("Evil CA", cert("root").subject, ca_key, ca=True, sig_len=256)
    leaf = forge.cert("evil-router", forge.name("Evil CA"), key("rsa1024_a.pem").public,
                      signer=leaf_signer, sig_len=leaf_sig_len)
    return [leaf, ca]


def test_huge_forged_intermediate_costs_no_rsa():
    # The 6,016-bit modulus and 3,008-bit exponent of the issue: checked bottom-up, the junk
    # leaf's 752-octet signature cost one exponentiation with that key (1.9 s on MicroPython).
    path = forged_path(forge.big_key(6016, (1 << 3007) | 1), leaf_sig_len=752)
    with forge.Spy() as spy:
        e = fwtest.raises(VerifyError, x509.validate_path, path, [cert("root")], NOW)
    assert spy.moduli == []
    assert e.args[0] == "certificate 1 (Evil CA): key size 6016 bits, not 1024..2048"


def test_signatures_checked_from_the_anchor_down():
    # An intermediate of a sane size whose key the attacker holds, and a leaf it really
    # signed: the intermediate's own signature (by the anchor) is checked first and fails,
    # so its key is never used.
    evil = key("rsa1024_pkcs8.pem")
    path = forged_path(evil.public, leaf_signer=evil)
    with forge.Spy([ROOT_N]) as spy:
        e = fwtest.raises(VerifyError, x509.validate_path, path, [cert("root")], NOW)
    assert spy.moduli == [ROOT_N]
    assert e.args[0] == "certificate 1 (Evil CA): bad signature"
    # and a genuine path uses each key only after the certificate holding it verified
    with forge.Spy([ROOT_N, cert("ca").public_key.n]) as spy:
        validate("router", "ca")
    assert spy.moduli == [ROOT_N, cert("ca").public_key.n]


def test_issuer_exponent_rules():
    n = key("rsa1024_pkcs8.pem").public.n
    for e, why in ((65536, "public exponent"), ((1 << 32) + 1, "public exponent"), (1, "public exponent"),
                   ((1 << 3007) | 1, "public exponent")):
        with forge.Spy() as spy:
            err = fwtest.raises(VerifyError, x509.validate_path, forged_path(rsa.PublicKey(n, e)), [cert("root")], NOW)
        assert spy.moduli == [] and err.args[0] == "certificate 1 (Evil CA): " + why, (e, err.args[0])
    # the largest exponent allowed, 2^32 - 1 (odd): on to the anchor's signature check
    with forge.Spy([ROOT_N]) as spy:
        err = fwtest.raises(VerifyError, x509.validate_path, forged_path(rsa.PublicKey(n, (1 << 32) - 1)),
                            [cert("root")], NOW)
    assert spy.moduli == [ROOT_N] and "bad signature" in err.args[0]


def test_issuer_key_size_bounds():
    for bits in (368, 1023, 2049, 4096):
        with forge.Spy() as spy:
            e = fwtest.raises(VerifyError, x509.validate_path, forged_path(forge.big_key(bits, 65537)),
                              [cert("root")], NOW)
        assert spy.moduli == [] and "key size %d bits" % bits in e.args[0] and "Evil CA" in e.args[0]
    # the bounds are the caller's (the rsa_min_bits..rsa_max_bits settings); anchors are exempt
    e = fwtest.raises(VerifyError, lambda: validate("router", "ca", min_bits=1100))
    assert e.args[0] == "certificate 0 (router1): key size 1024 bits, not 1100..2048"
    assert validate("router", "ca", min_bits=1024, max_bits=1024).name() == "router1"   # Test Root: 2048


def test_sha1_certificate_refused():
    e = fwtest.raises(VerifyError, validate, "router", "ca_sha1")
    assert e.args[0] == "certificate 1 (Test CA): signed with sha1: SEND needs sha256WithRSAEncryption"


def test_router_certificate_needs_send_router_eku():
    e = fwtest.raises(VerifyError, validate, "router_no_eku", "ca")
    assert e.args[0] == "certificate 0 (router-no-eku): no id-kp-sendRouter extended key usage"


def test_router_certificate_needs_digital_signature():
    e = fwtest.raises(VerifyError, validate, "router_encipher", "ca")
    assert e.args[0] == "certificate 0 (router-encipher): no digitalSignature key usage"


def test_ca_certificate_is_no_router_certificate():
    # Test CA presented alone as the end certificate: it certifies its own key as a router's
    e = fwtest.raises(VerifyError, x509.validate_path, [cert("ca")], [cert("root")], NOW)
    assert e.args[0] == "certificate 0 (Test CA): no digitalSignature key usage"


def test_boolean_must_be_der_true():
    # basicConstraints' critical flag and cA, FF in DER; any other non-zero octet was read as TRUE
    raw = fwtest.data("cert_ca.der")
    i = raw.index(H("0101ff"))
    for j in (i, raw.index(H("0101ff"), i + 3)):
        bad = raw[:j] + H("010101") + raw[j + 3:]
        e = fwtest.raises(ParseError, x509.parse, bad)
        assert e.args[0] == "DER: bad boolean"


def test_serial_number_minimal():
    raw = fwtest.data("cert_router.der")
    off = 4 + 4 + 5                   # certificate and tbsCertificate headers (30 82 xx xx), [0] version
    assert raw[off] == 0x02
    n = raw[off + 1]
    bad = bytearray(raw[:off] + bytes((2, n + 1, 0)) + raw[off + 2:])   # one more leading zero
    for at in (2, 6):                 # so both enclosing lengths grow by one
        bad[at:at + 2] = (int.from_bytes(bad[at:at + 2], "big") + 1).to_bytes(2, "big")
    e = fwtest.raises(ParseError, x509.parse, bytes(bad))
    assert e.args[0] == "DER: integer not in its shortest form"
