# A test-side access router for the MN engine tests, built from wire/, send.py and rsa
# directly (not ar.py), with knobs to misbehave. Runs under CPython and MicroPython.
import forge
from fwtest import data
from fmipkey import config, send
from fmipkey.crypto import backend, cga, der, rsa, x509
from fmipkey.identity import Identity
from fmipkey.badf import key_len
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt
from fwtest import now_at

NOW = 1700000000                   # inside the fixtures' validity (2020..2040)
PREFIX_TEXT = "2001:db8:1234:1::/64"  # inside cert_router.der's 2001:db8:1234::/48
PREFIX = config.parse_prefix(PREFIX_TEXT)
NCOA = bytes.fromhex("20010db8123400020000000000000042")
ALL_NODES = icmp6.ALL_NODES


def key(name):
    return der.parse_private_key(der.pem_decode(data(name, "r"))[0][1])


def identity(name, prefix=PREFIX, modifier=b"\x01" * 16):
    k = key(name)
    params = cga.encode(modifier, prefix, 0, der.encode_spki(k.public))
    return Identity(k, params, cga.address(params, 0))


def cfg(**kw):
    c = {"role": "mn", "prefix": PREFIX_TEXT}
    c.update(kw)
    return config.settings(c)


def anchors():
    return [x509.parse(data("cert_root.der"))]


def chain(router="cert_router.der"):
    return [data("cert_ca.der"), data(router)]


def pool(*names):
    return [key(n) for n in (names or ("rsa2048_a.pem", "rsa1024_pkcs8.pem", "rsa1024_a.pem"))]


def cpa(src, ident, n, comp, cert, dst=ALL_NODES):
    """A CPA from any source address: nothing in a CPA authenticates its source."""
    return icmp6.packet(src, dst, certpath.Cpa.emit(ident, n, comp, ndopt.certificate(cert)))


def mint(cn, issuer_cn, issuer_key, pub, ca=False):
    """A v3 certificate signed with issuer_key (sha256WithRSA, valid 2020..2040): a CA, or a
    SEND router certificate for 2001:db8::/32. For paths to an anchor the MN does not trust."""
    return forge.cert(cn, forge.name(issuer_cn), pub, ca=ca, signer=issuer_key, blocks=not ca)


def icmp(pkt):
    """(IPv6 header, ICMPv6 message) of an outgoing packet, after the checks every one must pass."""
    ip = icmp6.IPv6(pkt)
    assert ip.nh == icmp6.NH_ICMPV6 and ip.hlim == 255
    assert icmp6.checksum_ok(ip.payload, ip.src, ip.dst)
    return ip, ip.payload


def hmac_ref(alg, key, msg):
    # HMAC written out from RFC 2104 over hashlib: an independent check of crypto.hmac.
    import hashlib
    h = getattr(hashlib, alg)
    key = bytes(key) + bytes(64 - len(key))
    inner = h(bytes(b ^ 0x36 for b in key) + bytes(msg)).digest()
    return h(bytes(b ^ 0x5C for b in key) + inner).digest()


class FakeAR:
    """Answers a CPS with one CPA per certificate and an RtSolPr with a signed PrRtAdv
    carrying a Handover Key Reply; checks FBUs and answers with an FBack."""

    def __init__(self, ident=None, certs=None):
        self.id = ident or identity("rsa1024_a.pem")
        self.addr = self.id.addr
        self.certs = certs or chain()
        self.key = None                # handover key issued
        self.at = None

    def cpas(self, cps_pkt, ident=None):
        ip, raw = icmp(cps_pkt)
        m = certpath.parse(raw)
        n = len(self.certs)
        return [cpa(self.addr, m.identifier if ident is None else ident, n, n - 1 - i, c, bytes(ip.src))
                for i, c in enumerate(self.certs)]

    def prrtadv(self, sol_pkt, now=NOW, at=None, lifetime=600, ident=None, nonce=None, signer=None,
                flip=None, enc=None):
        """The PrRtAdv answering sol_pkt. Knobs: at/lifetime in the reply, another identifier or
        nonce, signer (an Identity signing from this AR's address), flip (an octet offset of the
        signed message to change after signing), enc (replace the encrypted key)."""
        ip, raw = icmp(sol_pkt)
        src = bytes(ip.src)
        m = fmip.parse(raw)
        v = send.verify(m, src, ip.dst, now_at(now), solicitation=True)
        o = m.find(ndopt.HK_REQUEST)
        req_at, spki = ndopt.parse_hk_request(m.raw, o[0], o[1])
        self.at = req_at if at is None else at
        self.key = backend.random_bytes(key_len(self.at) or 20)
        if enc is None:
            enc = rsa.encrypt(der.parse_spki(spki), self.key)
        body = fmip.PrRtAdv.emit(2, m.identifier if ident is None else ident,
                            ndopt.hk_reply(self.at, lifetime, enc))
        s = signer or self.id
        msg = send.message(self.addr, src, body, s.key, cga_params=s.cga_params, now=now_at(now),
                           nonce=bytes(v.nonce) if nonce is None else nonce)
        if flip is not None:
            msg[flip] ^= 1
            icmp6.set_checksum(msg, self.addr, src)
        return icmp6.ipv6_header(self.addr, src, icmp6.NH_ICMPV6, len(msg)) + bytes(msg)

    def check_fbu(self, pkt):
        """The parsed FBU after checking its authenticator independently; returns (ip, home, mh)."""
        ip, home, m = mh.parse_packet(pkt)
        assert m.type == mh.FBU and mh.checksum_ok(m, ip.src, ip.dst, home)
        spi, s, e = m.badf
        alg, n = ("sha1", 12) if self.at == 0 else ("sha256", 16)
        mac_in = bytes(m.alt_coa) + bytes(ip.dst) + bytes(m.raw[:4]) + b"\x00\x00" + bytes(m.raw[6:s])
        assert spi == 0 and e - s == n
        assert bytes(m.raw[s:e]) == hmac_ref(alg, self.key, mac_in)[:n]
        return ip, home, m

    def fback(self, fbu_pkt, status=0, seq=None, key=None, src=None):
        ip, home, m = mh.parse_packet(fbu_pkt)
        ncoa = bytes(m.alt_coa)
        alg, n = ("sha1", 12) if self.at == 0 else ("sha256", 16)
        b, off = mh.Fback.emit(status, m.seq if seq is None else seq, m.lifetime, auth_len=n)
        b[off:] = hmac_ref(alg, key or self.key, ncoa + self.addr + bytes(b[:off]))[:n]
        return mh.packet(src or self.addr, ncoa, b)
