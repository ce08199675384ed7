# Access router engine (RFC 5269 3.2, 3.5 over RFC 5568 6.1-6.2 and RFC 3971 6.4). Sans-IO:
# packets and `now` in, packets out; counters and typed events (events.py) for the daemon.
# This part checks and dispatches what arrives and answers RtSolPrs; one job per part:
#   neighbors.Neighborhood   which options describe the APs an RtSolPr asks about
#   hkissuer.KeyIssuer       the Handover Key Reply for a SEND-verified request
#   certserver.CertPathServer  CPS -> CPA, paced
#   binding.Binder           FBU -> FBack and the binding table
from fmipkey import send
from fmipkey.ar.admission import PerSource, ReplayCache
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
        # docs/hostile-link.md: every PrRtAdv costs a signature, every SEND RtSolPr a verification
        self._signing = TokenBucket(settings.max_prrtadv_rate)
        self._verifying = TokenBucket(settings.max_verify_rate)
        self._verifying_known = TokenBucket(settings.max_verify_rate)   # for CGAs whose keys FBUs used
        self._unsecured = TokenBucket(settings.max_unsecured_rate)
        self._macs = PerSource(settings.source_rate)
        self._sources = PerSource(settings.source_rate)
        self._replays = ReplayCache()
        self._reserve = settings.max_prrtadv_rate // 2   # signatures kept for MNs whose keys FBUs used

    @property
    def keystore_dirty(self):
        return self.keystore.dirty

    @keystore_dirty.setter
    def keystore_dirty(self, v):
        self.keystore.dirty = v

    def handle(self, packet, now, mac=None):
        """A received IPv6 packet: RtSolPr, CPS or FBU; anything else is ignored. mac: the
        frame's link-layer source, when the link gives it (limits per source use it)."""
        r = self.report
        r.count("received")
        try:
            ip = icmp6.IPv6(packet)
            if ip.nh == icmp6.NH_ICMPV6:
                return self._icmp(ip, now, mac)
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

    def _icmp(self, ip, now, mac):
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
        return self._rtsolpr(ip, now, mac)

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
    def _rtsolpr(self, ip, now, mac):
        # Cheapest work first (docs/hostile-link.md): addresses, options, the limit per MAC,
        # the replay cache, the limit per IPv6 source, then the timestamp, the CGA hash and
        # the RSA verification, and only then a signature, from a budget the verification picks.
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
        if mac is not None and not self._macs.take(bytes(mac), now):
            return r.drop("rate.source")
        sig = bytes(m.raw[m.sig + 20:m.sig + 28]) if m.sig >= 0 else None   # past the key hash
        if sig is not None and self._replays.seen(sig):
            return r.drop("replay")              # before the source's budget: replays do not spend it
        if not self._sources.take(src, now):
            return r.drop("rate.source")
        # an MN whose key an FBU used has its own budgets: a flood of new CGAs cannot take them
        known = self.keystore.confirmed(src, now.s)
        hk = m.find(ndopt.HK_REQUEST) is not None
        req = self.issuer.request(m, src) if hk else None
        v = None
        if sig is not None and (req is not None or not hk):     # a refused request: unsecured
            # no verification without a signature to follow it: a verified request from a new
            # CGA needs the signing budget above the reserve
            if self._signing.available(now) <= (0 if known else self._reserve):
                return r.drop("rate")
            if not (self._verifying_known if known else self._verifying).take(now):
                return r.drop("rate.verify")
            v = self.issuer.verify(m, ip, src, now)
        if v is None:
            # rfc3971 5.2.2: unsecured, or failed and so treated as unsecured; under attack
            # it may be dropped: served only from its own small budget, and like any request
            # but a known MN's, not from the signatures kept for those
            if not self._unsecured.take(now):
                return r.drop("rate.unsecured")
        else:
            self._replays.add(sig)
        floor = self._reserve if v is None or not known else 0
        if self._signing.available(now) <= floor or not self._signing.take(now):
            return r.drop("rate")
        r.count("rtsolpr")
        code, opts = self.neighborhood.answer(aps)
        reply = b"" if v is None or req is None else self.issuer.reply(v, req, src, now, mac)
        # rfc5269 3.2: every PrRtAdv is signed (CGA + RSA Signature), the Nonce echoed
        msg = send.message(self.addr, src, fmip.PrRtAdv.emit(code, m.identifier, self._src_lla + opts + reply),
                           self.id.key, cga_params=self.id.cga_params, now=now,
                           nonce=bytes(nonce) if nonce is not None else None)
        r.count("prrtadv")
        return [icmp6.packet(self.addr, src, msg)]
