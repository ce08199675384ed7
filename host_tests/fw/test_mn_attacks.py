# What an attacker's packets can make a mobile node do or spend (issue 13): each one in,
# the refusal and its counter out, nothing certified and no RSA with the attacker's keys.
import forge
from fakear import NOW, FakeAR, anchors, cfg, cpa, identity, key, pool
from fwtest import logged
from fmipkey.mn import MobileNode
from fmipkey.mn.discovery import PATH_TRIES
from fwtest import now_at

ROOT = anchors()[0]


def huge_path():
    """The issue's CPAs: an intermediate naming the anchor as issuer with a 6,016-bit modulus
    and a 3,008-bit exponent, and a junk leaf whose 752-octet signature that key would check."""
    ca = forge.cert("Evil CA", ROOT.subject, forge.big_key(6016, (1 << 3007) | 1), ca=True, sig_len=64)
    leaf = forge.cert("evil-router", forge.name("Evil CA"), key("rsa1024_a.pem").public, sig_len=752)
    return leaf, ca


def test_forged_intermediate_cpa_costs_no_rsa():
    leaf, ca = huge_path()
    assert 1100 < len(ca) < 1400 and 900 < len(leaf) < 1400   # each fits one CPA on Ethernet
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    mn.start(now_at(NOW))
    src = FakeAR().addr[:15] + b"\x66"
    with forge.Spy() as spy:
        assert mn.handle(cpa(src, 0, 2, 1, ca), now_at(NOW)) == []
        assert mn.handle(cpa(src, 0, 2, 0, leaf), now_at(NOW)) == []
    assert spy.moduli == []
    assert mn.counters["path.invalid"] == 1 and mn.known == {}
    assert logged(mn.events)[-1][1].endswith("certificate 1 (Evil CA): key size 6016 bits, not 1024..2048")


def test_forged_path_checked_with_the_anchor_key_only():
    # A sane-sized intermediate key the attacker holds, and a leaf it really signed.
    evil = key("rsa1024_pkcs8.pem")
    ca = forge.cert("Evil CA", ROOT.subject, evil.public, ca=True, sig_len=256)
    leaf = forge.cert("evil-router", forge.name("Evil CA"), key("rsa1024_a.pem").public, signer=evil, blocks=True)
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    mn.start(now_at(NOW))
    src = FakeAR().addr[:15] + b"\x67"
    with forge.Spy([ROOT.public_key.n]) as spy:
        mn.handle(cpa(src, 0, 2, 1, ca), now_at(NOW))
        mn.handle(cpa(src, 0, 2, 0, leaf), now_at(NOW))
    assert spy.moduli == [ROOT.public_key.n]
    assert mn.counters["path.invalid"] == 1 and mn.known == {}
    assert logged(mn.events)[-1][1].endswith("certificate 1 (Evil CA): bad signature")


def junk_router(i):
    # a one-certificate path naming the anchor as issuer, its signature junk: each one a
    # different set that fails at the anchor's signature check (one RSA-2048 verification)
    return forge.cert("junk-router-%d" % i, ROOT.subject, key("rsa1024_a.pem").public, sig_len=256)


def discovering():
    mn = MobileNode(cfg(), identity("rsa1024_b.pem"), anchors(), pool())
    mn.start(now_at(NOW))
    return mn, FakeAR().addr[:15] + b"\x68"


def test_rejected_path_not_validated_again():
    # The same refused set re-sent: the forged CPA cost 1.9 s again on every re-send.
    leaf, ca = huge_path()
    mn, src = discovering()
    mn.handle(cpa(src, 0, 2, 1, ca), now_at(NOW))
    for _ in range(5):
        assert mn.handle(cpa(src, 0, 2, 0, leaf), now_at(NOW)) == []
    assert mn.counters["path.invalid"] == 1 and mn.counters["dropped.path_rejected"] == 4
    # a changed component makes a new set: validated (and refused) once more
    mn.handle(cpa(src, 0, 2, 0, junk_router(0)), now_at(NOW))
    assert mn.counters["path.invalid"] == 2 and mn.known == {}


def test_validations_per_source_bounded():
    mn, src = discovering()
    with forge.Spy([ROOT.public_key.n]) as spy:
        for i in range(6):                      # six different sets from one source
            assert mn.handle(cpa(src, 0, 1, 0, junk_router(i)), now_at(NOW)) == []
    assert len(spy.moduli) == PATH_TRIES == mn.counters["path.invalid"]
    assert mn.counters["dropped.path_tries"] == 6 - PATH_TRIES
    # each CPS we send lets every source answer it again
    assert mn.tick(now_at(NOW + 1)) != [] and mn.counters["resent.cps"] == 1
    for i in range(6, 9):
        mn.handle(cpa(src, 0, 1, 0, junk_router(i)), now_at(NOW + 1))
    assert mn.counters["path.invalid"] == 2 * PATH_TRIES and mn.known == {}
    # another source has its own tries
    mn.handle(cpa(src[:15] + b"\x69", 0, 1, 0, junk_router(9)), now_at(NOW + 1))
    assert mn.counters["path.invalid"] == 2 * PATH_TRIES + 1
