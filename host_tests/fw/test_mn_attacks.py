# What an attacker's packets can make a mobile node do or spend (issue 13): each one in,
# the refusal and its counter out, nothing certified and no RSA with the attacker's keys.
import forge
from fakear import NOW, FakeAR, anchors, cfg, cpa, identity, key, pool
from fwtest import logged
from fmipkey.mn import MobileNode

ROOT = anchors()[0]


def huge_path():
    """The issue's CPAs: an intermediate naming the anchor as issuer with a 6,016-bit modulus
    and a 3,008-bit exponent, and a junk leaf whose 752-octet signature that key would check."""
    ca = forge.cert("Evil CA", ROOT.subject, forge.big_key(6016, (1 << 3007) | 1), ca=True, sig_len=256)
    leaf = forge.cert("evil-router", forge.name("Evil CA"), key("rsa1024_a.pem").public, sig_len=752)
    return leaf, ca


def test_forged_intermediate_cpa_costs_no_rsa():
    leaf, ca = huge_path()
    assert len(ca) > 1100 and len(leaf) > 900                # each fits one CPA
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    mn.start(NOW)
    src = FakeAR().addr[:15] + b"\x66"
    with forge.Spy() as spy:
        assert mn.handle(cpa(src, 0, 2, 1, ca), NOW) == []
        assert mn.handle(cpa(src, 0, 2, 0, leaf), NOW) == []
    assert spy.moduli == []
    assert mn.counters["path.invalid"] == 1 and mn.known == {}
    assert logged(mn.events)[-1][1].endswith("certificate 1 (Evil CA): key size 6016 bits, not 1024..2048")


def test_forged_path_checked_with_the_anchor_key_only():
    # A sane-sized intermediate key the attacker holds, and a leaf it really signed.
    evil = key("rsa1024_pkcs8.pem")
    ca = forge.cert("Evil CA", ROOT.subject, evil.public, ca=True, sig_len=256)
    leaf = forge.cert("evil-router", forge.name("Evil CA"), key("rsa1024_a.pem").public, signer=evil, blocks=True)
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    mn.start(NOW)
    src = FakeAR().addr[:15] + b"\x67"
    with forge.Spy([ROOT.public_key.n]) as spy:
        mn.handle(cpa(src, 0, 2, 1, ca), NOW)
        mn.handle(cpa(src, 0, 2, 0, leaf), NOW)
    assert spy.moduli == [ROOT.public_key.n]
    assert mn.counters["path.invalid"] == 1 and mn.known == {}
    assert logged(mn.events)[-1][1].endswith("certificate 1 (Evil CA): bad signature")
