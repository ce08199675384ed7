# Certification path discovery (rfc3971 6.4): CPS out, CPAs collected per source, paths
# validated against our trust anchors; a valid path certifies a router KEY.
from fmipkey import send
from fmipkey.compat import const
from fmipkey.crypto import backend, der, x509
from fmipkey.engine import Retx
from fmipkey.errors import ParseError, VerifyError
from fmipkey.events import NoPath, PathInvalid, PathValidated
from fmipkey.wire import certpath, icmp6, ndopt

MAX_SOURCES = const(3)       # CPA sources collected at once; the oldest makes room
MAX_PATH = const(4)          # certificates kept per source: with MAX_SOURCES, bounds memory
MAX_KEYS = const(4)          # certified router keys kept; the oldest makes room
CPS_RETRY = const(1000)      # ms; rfc3971 10.1: 1 s doubling, give up after CPS_RETRY_MAX
CPS_RETRIES = const(3)       # 1 + 2 + 4 + 8 = 15 s = CPS_RETRY_MAX
MAX_REJECTED = const(4)      # refused sets remembered per source, so none is validated twice
PATH_TRIES = const(2)        # validations per source per CPS we send: a forged set that
                             # arrives first does not keep the genuine one waiting a round


def rand16():
    # A non-zero 16-bit identifier or sequence start (rfc3971 6.4.1: random, not zero).
    v = 0
    while not v:
        v = int.from_bytes(send.new_nonce(2), "big")
    return v


class _Path:
    """Certificates from one CPA source (unauthenticated until validated): All Components,
    component -> DER, validations left until our next CPS goes out, and digests of the
    complete sets already refused."""

    def __init__(self, src, n):
        self.src = src
        self.n = n
        self.certs = {}
        self.tries = PATH_TRIES
        self.rejected = []

    def digest(self):
        h = backend.hasher("sha256")()
        for k in range(self.n):
            h.update(self.certs[k])
        return h.digest()[:16]


class PathDiscovery:
    def __init__(self, node, anchors):
        self.node = node
        self.anchors = anchors
        self.known = {}              # {key hash: PublicKey} of certified router keys, for send.verify
        self._certified = []         # the same key hashes, oldest first (bounds known)
        self._cps_id = None          # the CPS identifier CPAs must carry
        self.cps = None              # Retx of the CPS until a path validates
        self.paths = None            # [_Path], oldest first, while collecting CPAs

    def start(self, now):
        """Send a CPS for the router's certification path."""
        node = self.node
        self._cps_id = rand16()
        opts = b"".join(ndopt.trust_anchor(ndopt.NAME_DER, a.subject) for a in self.anchors)
        pkt = icmp6.packet(node.addr, node.router or icmp6.ALL_ROUTERS, certpath.Cps.emit(self._cps_id, options=opts))
        self.cps = Retx(pkt, now, CPS_RETRY, CPS_RETRIES)
        self.paths = []
        node.report.count("sent.cps")
        return [pkt]

    def stop(self):
        self.cps = self.paths = None

    def cpa(self, ip, now):
        """A CPA (checksum and hop limit checked); True when it completes the first valid
        path while the CPS is outstanding: time to ask for a key."""
        # A CPA proves nothing about its source: certificates are kept per source, and a
        # path that validates certifies a KEY, not an address (anyone can replay a genuine
        # router's CPAs). A bad path is not final: a newer copy of a component replaces the
        # old one and the set is tried again, and other sources and CPS retransmissions go
        # on until the CPS timeout. With no router configured, paths keep being collected
        # until a PrRtAdv names the router: the first valid one may be another router's.
        # What a source can make us spend is bounded: PATH_TRIES validations per source per
        # CPS we send, never one for a set already refused (and x509 bounds a validation of
        # a forged path to one RSA verification with an anchor's key).
        r = self.node.report
        if self.paths is None:
            return r.drop("unexpected")
        m = certpath.parse(ip.payload)
        if m.identifier not in (self._cps_id, 0):    # 0: a CPA sent to all-nodes (rfc3971 6.4.2)
            return r.drop("identifier")
        src = bytes(ip.src)
        router = self.node.router
        if router is not None and src != router:    # the configured router only
            return r.drop("source")
        n = m.all_components
        if n == 0:                  # rfc3971 6.4.5: the router has no path to our anchors
            r.event(NoPath(src))
            return r.drop("no_path")
        if n > MAX_PATH or m.component >= n:
            return r.drop("components")
        c = m.option(ndopt.CERTIFICATE, ndopt.parse_certificate)
        if c is None:
            return r.drop("no_certificate")
        ctype, cert = c
        if ctype != ndopt.CERT_X509:
            return r.drop("cert_type")
        p = self._path_of(src, n)
        p.certs[m.component] = bytes(cert)
        if len(p.certs) < n:
            return False
        digest = p.digest()
        if digest in p.rejected:
            return r.drop("path_rejected")
        if not p.tries:
            return r.drop("path_tries")
        p.tries -= 1
        s = self.node.settings
        try:
            leaf = x509.validate_path([p.certs[k] for k in p.certs], self.anchors, now.s, s.rsa_min_bits, s.rsa_max_bits)
            if not x509.covers(leaf, s.prefix + bytes(8), 64):
                raise VerifyError("router certificate does not cover the link prefix", "prefix")
        except (ParseError, VerifyError) as e:
            p.rejected.append(digest)
            del p.rejected[:-MAX_REJECTED]
            r.count("path.invalid")
            r.event(PathInvalid(src, e.args[0]))
            return False
        self.paths.remove(p)
        self._certify(leaf.public_key)
        r.event(PathValidated(src, leaf.name()))
        if router is not None:         # configured: its path is all we need
            self.paths = None
        if self.cps is None:           # already soliciting: the new key can sign the answer
            return False
        self.cps = None
        return True

    def _certify(self, pub):
        h = send.key_hash(der.encode_spki(pub))
        if h in self.known:
            return
        if len(self._certified) >= MAX_KEYS:
            del self.known[self._certified.pop(0)]
        self._certified.append(h)
        self.known[h] = pub

    def _path_of(self, src, n):
        # The source's collection; a new one (a new source, or All Components changed)
        # pushes out the oldest when MAX_SOURCES are being collected.
        paths = self.paths
        for p in paths:
            if p.src == src:
                if p.n == n:
                    return p
                paths.remove(p)
                break
        if len(paths) >= MAX_SOURCES:
            del paths[0]
            self.node.report.count("dropped.cpa_sources")
        p = _Path(src, n)
        paths.append(p)
        return p

    def tick(self, now):
        """The CPS retransmission due, [] if none, None when discovery gave up."""
        if self.cps is None:
            return []
        out = self.cps.resend(now, self.node.report, "cps")
        if out:
            for p in self.paths:          # a new CPS: each source may answer it again
                p.tries = PATH_TRIES
        return out
