# Access router engine (RFC 5269 3.2, 3.5 over RFC 5568 6.1-6.2 and RFC 3971 6.4). Sans-IO:
# packets and `now` in, packets out; counters and typed events (events.py) for the daemon.
# This part checks and dispatches what arrives and answers RtSolPrs; one job per part:
#   neighbors.Neighborhood   which options describe the APs an RtSolPr asks about
#   hkissuer.KeyIssuer       the Handover Key Reply for a SEND-verified request
#   certserver.CertPathServer  CPS -> CPA, paced
#   binding.Binder           FBU -> FBack and the binding table
from fmipkey import send
from fmipkey.ar.binding import Binder
from fmipkey.ar.certserver import CertPathServer
from fmipkey.ar.hkissuer import KeyIssuer
from fmipkey.ar.neighbors import Neighborhood
from fmipkey.engine import Report, TokenBucket
from fmipkey.errors import ParseError
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt


class AccessRouter:
    def __init__(self, settings, identity, certs, keystore, mac=None):
        """settings: config.Settings; certs: DER certificates, router certificate first; mac: the
        AR's link-layer address for a Source LLA option (optional)."""
        self.id = identity
        self.addr = identity.addr
        self.keystore = keystore
        self.report = r = Report()
        self.counters = r.counters
        self.events = r.events
        self.neighborhood = Neighborhood(settings.neighbors, settings.prefix)
        self.issuer = KeyIssuer(settings, keystore, r)
        self.certpath = CertPathServer(identity.addr, certs, settings.max_cpa_rate, r)
        self.binder = Binder(identity.addr, keystore, settings.max_bindings, r)
        self.bindings = self.binder.bindings
        self._src_lla = ndopt.fmip_lla(ndopt.LLA_SOURCE, mac) if mac else b""
        # every PrRtAdv costs a signature, even for a forged RtSolPr: at most this many per second
        self._signing = TokenBucket(settings.max_prrtadv_rate)

    @property
    def keystore_dirty(self):
        return self.keystore.dirty

    @keystore_dirty.setter
    def keystore_dirty(self, v):
        self.keystore.dirty = v

    def handle(self, packet, now):
        """A received IPv6 packet: RtSolPr, CPS or FBU; anything else is ignored."""
        r = self.report
        r.count("received")
        try:
            ip = icmp6.IPv6(packet)
            if ip.nh == icmp6.NH_ICMPV6:
                return self._icmp(ip, now)
            if ip.nh in (icmp6.NH_MH, icmp6.NH_DSTOPTS):
                return self._mh(packet, now)
        except ParseError:
            return r.drop("malformed")
        r.count("ignored")
        return []

    def tick(self, now):
        """Expire bindings and send the paced all-nodes CPA components that are due."""
        self.binder.expire(now)
        return self.certpath.tick(now)

    def _icmp(self, ip, now):
        r = self.report
        p = ip.payload
        if len(p) < 4:
            return r.drop("malformed")
        t = p[0]
        if t not in (fmip.ICMP_FMIP, certpath.ICMP_CPS):
            r.count("ignored")
            return []
        if ip.hlim != 255:
            return r.drop("hop_limit")
        if not icmp6.checksum_ok(p, ip.src, ip.dst):
            return r.drop("checksum")
        if t == certpath.ICMP_CPS:
            return self.certpath.solicitation(ip, now)
        return self._rtsolpr(ip, now)

    def _mh(self, packet, now):
        ip, home, m = mh.parse_packet(packet)
        r = self.report
        if m.type != mh.FBU:
            r.count("ignored")
            return []
        if bytes(ip.dst) != self.addr:
            return r.drop("not_ours")
        if not mh.checksum_ok(m, ip.src, ip.dst, home):
            return r.drop("checksum")
        return self.binder.fbu(ip, home, m, now)

    # -- RtSolPr -> PrRtAdv (rfc5568 6.1.2, rfc5269 3.2) ---------------------
    def _rtsolpr(self, ip, now):
        r = self.report
        dst = bytes(ip.dst)
        src = bytes(ip.src)
        if dst != self.addr and dst != icmp6.ALL_ROUTERS:
            return r.drop("not_ours")
        if src[0] == 0xFF or src == icmp6.UNSPECIFIED:
            return r.drop("source")
        m = fmip.parse(ip.payload)
        if m.subtype != fmip.RTSOLPR:
            r.count("ignored")
            return []
        aps = [a for a in m.options(ndopt.FMIP_LLA, ndopt.parse_fmip_lla)
               if a[0] in (ndopt.LLA_WILDCARD, ndopt.LLA_NEW_AP)]
        if not aps:
            return r.drop("no_new_ap")           # rfc5568 6.1.1: MUST be included
        nonce = m.option(ndopt.NONCE, ndopt.parse_nonce)
        if not self._signing.take(now):
            return r.drop("rate")                 # before any RSA operation
        r.count("rtsolpr")
        code, opts = self.neighborhood.answer(aps)
        reply = b"" if m.find(ndopt.HK_REQUEST) is None else self.issuer.reply(m, ip, src, now)
        # rfc5269 3.2: every PrRtAdv is signed (CGA + RSA Signature), the Nonce echoed
        msg = send.message(self.addr, src, fmip.PrRtAdv.emit(code, m.identifier, self._src_lla + opts + reply),
                           self.id.key, cga_params=self.id.cga_params, now=now,
                           nonce=bytes(nonce) if nonce is not None else None)
        r.count("prrtadv")
        return [icmp6.packet(self.addr, src, msg)]
