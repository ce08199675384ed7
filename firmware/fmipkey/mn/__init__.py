# Mobile node engine (RFC 5269 3.1, 3.3, 3.4 over RFC 3971 6.4 and RFC 5568 6.1-6.2). Sans-IO:
# packets and `now` in, packets out; counters and typed events (events.py) for the daemon.
# This part holds the state (one transition table) and dispatches to the parts:
#   discovery.PathDiscovery  CPS/CPA, path validation, the certified router keys
#   keyreq.KeyRequest        RtSolPr with a HK Request, the key from the PrRtAdv
#   fbu.FbuSender            FBU with its BADF until the FBack
from fmipkey.engine import Report
from fmipkey.errors import ParseError
from fmipkey.events import Failed, FbuAccepted, FbuRefused, RefreshFailed
from fmipkey.mn.discovery import MAX_KEYS, MAX_PATH, MAX_SOURCES, PathDiscovery  # noqa: F401 (limits)
from fmipkey.mn.fbu import FbuSender
from fmipkey.mn.keyreq import KeyRequest
from fmipkey.wire import certpath, fmip, icmp6

IDLE = "idle"
DISCOVERING = "discovering"    # CPS sent, collecting and validating paths
VALIDATED = "validated"        # a router key is certified
REQUESTING = "requesting"      # RtSolPr with a HK Request outstanding
KEYED = "keyed"                # a handover key is held
FBU_SENT = "fbu-sent"
DONE = "done"                  # the PAR accepted the FBU
FAILED = "failed"              # final: no timer runs again

# What happened -> {state: next state}. A state not listed for it stays as it is (a key
# refresh leaves KEYED, FBU_SENT and DONE alone); failing and starting again are allowed from
# every state.
_ALL = (IDLE, DISCOVERING, VALIDATED, REQUESTING, KEYED, FBU_SENT, DONE, FAILED)
_NEXT = {
    "start": dict((s, DISCOVERING) for s in _ALL),     # a new exchange from wherever the last ended
    "path": {DISCOVERING: VALIDATED},
    "solicit": {VALIDATED: REQUESTING},
    "key": {VALIDATED: KEYED, REQUESTING: KEYED},
    "fbu": {KEYED: FBU_SENT, FBU_SENT: FBU_SENT, DONE: FBU_SENT},
    "accepted": {FBU_SENT: DONE},
}


class MobileNode:
    def __init__(self, settings, identity, anchors, hkepk_pool):
        """settings: config.Settings; anchors: trust anchor x509.Certificates; hkepk_pool:
        PrivateKeys to use as handover key encryption key pairs."""
        self.settings = settings
        self.id = identity
        self.addr = identity.addr
        # None until a PrRtAdv signed by a certified key names it (its source), unless configured
        self.router = settings.router
        self.state = IDLE
        self.report = Report()
        self.counters = self.report.counters
        self.events = self.report.events
        self.keys = {}               # (ar_addr, mn_cga) -> keyreq.HandoverKey
        self.discovery = PathDiscovery(self, anchors)
        self.keyreq = KeyRequest(self, hkepk_pool)
        self.fbus = FbuSender(self)

    @property
    def known(self):
        """{key hash: PublicKey} of the certified router keys."""
        return self.discovery.known

    def _go(self, what):
        self.state = _NEXT[what].get(self.state, self.state)

    def stop(self):
        """End the exchange: no timer runs again until start()."""
        self.discovery.stop()
        self.keyreq.stop()
        self.fbus.stop()

    def _fail(self, ev):
        self.state = FAILED
        self.report.event(ev)
        self.stop()
        return []

    def start(self, now):
        """Send a CPS for the router's certification path."""
        self._go("start")
        return self.discovery.start(now)

    def _solicit(self, now):
        out = self.keyreq.solicit(now)
        if out is None:
            return self._fail(Failed("hkepk-exhausted", "no handover key encryption key pair of %d bits left; "
                                     "provision more (fmipkey provision)" % (self.id.key.size * 8)))
        self._go("solicit")
        return out

    def fbu(self, par_addr, ncoa, now):
        """FBU from the previous care-of CGA to the PAR, authenticated with its handover key."""
        par = bytes(par_addr)
        hk = self.keys.get((par, self.addr))
        if hk is None or hk.expiry <= now.s:
            return self._fail(Failed("fbu-no-key", "no live handover key for this PAR", par))
        if self.keyreq.hkepk is not None:
            self.keyreq.hkepk.handovers += 1
        self._go("fbu")
        return self.fbus.send(par, bytes(ncoa), hk, now)

    def handle(self, packet, now):
        """A received IPv6 packet: CPA, PrRtAdv or FBack; anything else is ignored."""
        r = self.report
        r.count("received")
        try:
            ip = icmp6.IPv6(packet)
            if ip.nh in (icmp6.NH_MH, icmp6.NH_DSTOPTS):
                return self._fback(packet, now)
            if ip.nh != icmp6.NH_ICMPV6 or len(ip.payload) < 4:
                return r.drop("not_for_mn")
            t = ip.payload[0]
            if t not in (certpath.ICMP_CPA, fmip.ICMP_FMIP):
                return r.drop("not_for_mn")
            if ip.hlim != 255:
                return r.drop("hop_limit")
            if not icmp6.checksum_ok(ip.payload, ip.src, ip.dst):
                return r.drop("checksum")
            if t == certpath.ICMP_CPA:
                if self.discovery.cpa(ip, now) is True:     # the first valid path: ask for a key
                    self._go("path")
                    return self._solicit(now)
                return []
            m = fmip.parse(ip.payload)
            if m.subtype != fmip.PRRTADV:
                return r.drop("not_for_mn")
            return self._prrtadv(ip, m, now)
        except ParseError:
            return r.drop("malformed")

    def _prrtadv(self, ip, m, now):
        hk = self.keyreq.prrtadv(ip, m, now)
        if hk is None:
            return []
        self.router = bytes(ip.src)
        self.discovery.paths = None
        for k in [k for k in self.keys if self.keys[k].expiry <= now.s]:
            del self.keys[k]
        self.keys[(self.router, self.addr)] = hk
        self._go("key")
        return []

    def _fback(self, buf, now):
        m, sent, out = self.fbus.fback(buf, now)
        if m is None:
            return out
        if m.status < 128:
            self._go("accepted")
            self.report.event(FbuAccepted(self.addr, sent.ncoa, m.lifetime))
        else:
            self._fail(FbuRefused(self.addr, m.status, "status", "status %d" % m.status))
        return []

    def tick(self, now):
        """Retransmissions, and a new key request before the key's lifetime ends."""
        out = []
        d = self.discovery.tick(now)
        if d is None:
            return self._fail(Failed("cps-timeout", "no valid certification path from the router"))
        out.extend(d)
        kr = self.keyreq
        if kr.sol is not None:
            d = kr.tick(now)
            if d is None:
                if self.state == REQUESTING:
                    return self._fail(Failed("rtsolpr-timeout", "no PrRtAdv from the router"))
                self.report.event(RefreshFailed())
            else:
                out.extend(d)
        elif kr.refresh is not None and now.ms >= kr.refresh:
            out.extend(self._solicit(now))
        d = self.fbus.tick(now)
        if d is None:
            return self._fail(Failed("fbu-timeout", "no FBack from the PAR"))
        out.extend(d)
        return out
