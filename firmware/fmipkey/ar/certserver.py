# The certification path server (rfc3971 6.4.1, 6.4.2, 6.4.5): CPS in, CPAs out, at most
# max_cpa_rate per second; over it, or for an unspecified source, the whole path goes to
# all-nodes, paced by tick().
from fmipkey.compat import const
from fmipkey.crypto import x509
from fmipkey.engine import TokenBucket
from fmipkey.events import CpaSent
from fmipkey.wire import certpath, icmp6, ndopt


LOAD_HOLD = const(2000)   # ms of all-nodes-only answers after the CPA budget ran short


class PathCert:
    """One certificate of the path as sent: its DER and its issuer's name (DER), by which a
    CPS's Trust Anchor option picks where the path ends."""

    def __init__(self, der, issuer):
        self.der = der
        self.issuer = issuer


class CertPathServer:
    def __init__(self, addr, certs, max_cpa_rate, report):
        """certs: DER certificates, router certificate first. The trust anchor (a self-signed
        certificate at the end) is not sent (rfc3971 6.4.2)."""
        self.addr = addr
        self.report = report
        path = []
        for c in certs:
            p = x509.parse(c)
            if bytes(p.issuer) == bytes(p.subject):
                break
            path.append(PathCert(bytes(c), bytes(p.issuer)))
        self.path = path
        self._rate = TokenBucket(max_cpa_rate)
        self._pending = -1        # next component of a paced all-nodes advertisement, -1 none
        self._loaded_until = 0     # (now.ms, never negative) until then, CPSs get the all-nodes advertisement only

    def tick(self, now):
        """The paced all-nodes CPA components that are due."""
        out = []
        last = len(self.path) - 1
        while self._pending >= 0 and self._rate.available(now) > 0:
            c = self._pending
            out.append(self._cpa(0, icmp6.ALL_NODES, self.path, c, c == last, now))
            self._pending = c - 1
        return out

    def solicitation(self, ip, now):
        """A CPS (checksum and hop limit checked) -> the CPAs to send."""
        r = self.report
        dst = bytes(ip.dst)
        src = bytes(ip.src)
        if dst != self.addr and dst != icmp6.ALL_ROUTERS and dst != icmp6.solicited_node(self.addr):
            return r.drop("not_ours")
        if src[0] == 0xFF:
            return r.drop("source")
        m = certpath.parse(ip.payload)
        if m.type != certpath.ICMP_CPS or m.code != 0 or m.identifier == 0:
            return r.drop("cps_format")
        r.count("cps")
        path = self.path
        names = [bytes(n) for t, n in m.options(ndopt.TRUST_ANCHOR, ndopt.parse_trust_anchor) if t == ndopt.NAME_DER]
        if names:
            # the shortest part of our path that ends below a solicited anchor
            for k in range(len(path)):
                if path[k].issuer in names:
                    path = path[:k + 1]
                    break
            else:
                path = []
        comps = range(len(path) - 1, -1, -1)
        if m.component != certpath.ALL_COMPONENTS:
            if m.component >= len(path):
                return r.drop("cps_component")
            comps = (m.component,)
        if src == icmp6.UNSPECIFIED or now.ms < self._loaded_until or self._rate.available(now) < (len(comps) or 1):
            # rfc3971 6.4.5: unspecified source, or over MAX_CPA_RATE: the whole path to
            # all-nodes, paced by tick(). Under load every CPS for LOAD_HOLD s more only asks
            # for that one advertisement: answers to single solicitations would spend the
            # budget first and starve it, and one serves any number of soliciting MNs.
            if src != icmp6.UNSPECIFIED:
                self._loaded_until = now.ms + LOAD_HOLD
            if self._pending < 0 and self.path:
                self._pending = len(self.path) - 1
                r.count("cpa.deferred")
            return self.tick(now)
        dst = icmp6.solicited_node(src)
        if not path:
            # no path to the solicited anchor: an advertisement without certificates that
            # names the anchors asked for (rfc3971 6.4.5)
            opts = b"".join(ndopt.trust_anchor(ndopt.NAME_DER, a) for a in names)
            return [self._cpa(m.identifier, dst, path, -1, False, now, opts)]
        out = [self._cpa(m.identifier, dst, path, c, c == len(path) - 1, now) for c in comps]
        r.event(CpaSent(src, len(out), len(path)))
        return out

    def _cpa(self, ident, dst, path, comp, top, now, opts=b""):
        # One CPA with certificate `comp` of `path` (-1: none); the top one (nearest the
        # anchor) names the anchor its path ends at.
        if top:
            opts += ndopt.trust_anchor(ndopt.NAME_DER, path[comp].issuer)
        if comp >= 0:
            opts += ndopt.certificate(path[comp].der)
        self._rate.take(now)
        self.report.count("cpa")
        return icmp6.packet(self.addr, dst, certpath.Cpa.emit(ident, len(path), comp if comp >= 0 else 0, opts))
