# Fixtures for the access router tests and bench: an AR with the fixture certification
# path (router key rsa1024_a), and the MN side built by hand from wire/, send and rsa.
from fwtest import data, now_at
from fmipkey import config, send
from fmipkey.ar import AccessRouter
from fmipkey.crypto import cga, der, hmac
from fmipkey.identity import Identity
from fmipkey.keystore import KeyStore
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt

NOW = 1700000000
LL = bytes.fromhex("fe80000000000000")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
AP_NAR = bytes.fromhex("020000000101")        # an AP of the neighbouring router
AP_OWN = bytes.fromhex("020000000102")        # an AP on our own prefix
AP_UNKNOWN = bytes.fromhex("020000000199")
NAR_LLA = bytes.fromhex("020000000201")
NAR_ADDR = config.parse_addr("2001:db8:2::1")
NAR_PREFIX = config.parse_prefix("2001:db8:2::/64")
NCOA = config.parse_addr("2001:db8:2::77")
_keys = {}


def key(name):
    if name not in _keys:
        _keys[name] = der.parse_private_key(der.pem_decode(data(name, "r"))[0][1])
    return _keys[name]


class Node:
    """A SEND node: its CGA key, Sec 0 CGA Parameters on fe80::/64 and the CGA."""

    def __init__(self, name, modifier=bytes(range(16))):
        self.key = key(name)
        self.spki = der.encode_spki(self.key.public)
        self.params = cga.encode(modifier, LL, 0, self.spki)
        self.addr = cga.address(self.params, 0)


NEIGHBORS = [  # AP_NAR on another router; AP_OWN on our own prefix
    {"ap_id": "02:00:00:00:01:01", "nar_lla": "02:00:00:00:02:01", "nar_addr": "2001:db8:2::1",
     "nar_prefix": "2001:db8:2::/64"},
    {"ap_id": "02:00:00:00:01:02", "nar_lla": "02:00:00:00:00:01", "nar_addr": "2001:db8:1::1",
     "nar_prefix": "2001:db8:1::/64"}]


def make_ar(ar_key="rsa1024_a.pem", keystore_max=256, mac=None, **cfg):
    c = {"neighbors": NEIGHBORS, "keystore_max": keystore_max}
    c.update(cfg)
    c = config.validate(c)
    n = Node(ar_key, bytes(16))
    certs = [data("cert_router.der"), data("cert_ca.der"), data("cert_root.der")]
    ks = KeyStore(bytes(range(32)), c["keystore_max"], c["hk_lifetime"])
    return AccessRouter(config.Settings(c), Identity(n.key, n.params, n.addr), certs, ks, mac)


def ip(src, dst, msg, hlim=255):
    return icmp6.packet(src, dst, msg, hlim)


def rtsolpr(mn, dst, hkepk=None, at=0, now=NOW, nonce=b"NONCE1", ident=42, aps=((1, AP_NAR),),
            signer=None, params=None, spki=None, hlim=255):
    """An RtSolPr from mn to dst, SEND-signed when hkepk (a PublicKey) is given."""
    opts = b"".join(ndopt.fmip_lla(c, a) for c, a in aps)
    if hkepk is None:
        return ip(mn.addr, dst, fmip.RtSolPr.emit(ident, opts), hlim)
    body = fmip.RtSolPr.emit(ident, opts + ndopt.hk_request(at, der.encode_spki(hkepk)))
    msg = send.message(mn.addr, dst, body, signer or mn.key, cga_params=params or mn.params, spki=spki or mn.spki,
                       now=now_at(now), nonce=nonce)
    return icmp6.packet(mn.addr, dst, msg, hlim)


# The AR's admission limits opened up, for the benches: they measure an exchange's cost at one
# `now`, not the limits (test_ar_admission.py tests those).
OPEN = {"max_prrtadv_rate": 100000, "max_verify_rate": 100000, "max_unsecured_rate": 100000,
        "source_rate": 100000}


def distinct_rtsolprs(mn, dst, hkepk):
    """More signed RtSolPrs (each its own Nonce, so its own signature) than the AR's replay
    cache holds: cycled through, every one is fresh to the AR again."""
    from fmipkey.ar.admission import REPLAY_MAX
    return [rtsolpr(mn, dst, hkepk, nonce=("N%05d" % i).encode()) for i in range(REPLAY_MAX + 16)]


def prrtadv(pkt):
    """(IPv6, parsed PrRtAdv) of a packet the AR sent."""
    h = icmp6.IPv6(pkt)
    assert h.nh == icmp6.NH_ICMPV6 and h.hlim == 255
    assert icmp6.checksum_ok(h.payload, h.src, h.dst)
    m = fmip.parse(h.payload)
    assert m.subtype == fmip.PRRTADV
    return h, m


def hk_reply(m):
    """(AT, lifetime, encrypted key) of a PrRtAdv, or None."""
    o = m.find(ndopt.HK_REPLY)
    return None if o is None else ndopt.parse_hk_reply(m.raw, o[0], o[1])


def cps(src, dst, ident=7, component=certpath.ALL_COMPONENTS, anchors=()):
    opts = b"".join(ndopt.trust_anchor(ndopt.NAME_DER, a) for a in anchors)
    return ip(src, dst, certpath.Cps.emit(ident, component, opts))


def fbu(pcoa, par, key, at, seq=1, lifetime=300, ncoa=NCOA, src=None, tamper=None):
    """An FBU from the PAR's link (source pcoa, Alternate CoA ncoa), BADF made here with
    crypto.hmac (not badf.py) so the AR's check is tested against an independent MAC."""
    alg, n = {0: ("sha1", 12), 1: ("sha256", 16)}[at]
    m, off = mh.Fbu.emit(seq, lifetime, alt_coa=ncoa, auth_len=n)
    m[off:] = hmac.digest(alg, key, mh.mac_data(m, off, ncoa, par))[:n]
    if tamper is not None:
        m[tamper] ^= 1
    return mh.packet(src or pcoa, par, m, home=pcoa, hlim=255)


def binding(ar, pcoa):
    """(NCoA, expiry) of the AR's binding for pcoa."""
    b = ar.bindings[pcoa]
    return b.ncoa, b.expiry
