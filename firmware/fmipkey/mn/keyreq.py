# The handover key request (rfc5269 3.1, 3.3): a SEND-signed RtSolPr with a Handover Key
# Request under a handover key encryption key pair (HKEPK), and the key taken from the
# PrRtAdv signed by a certified router key.
from fmipkey import badf, send
from fmipkey.compat import const
from fmipkey.crypto import der, rsa
from fmipkey.engine import Retx, TokenBucket
from fmipkey.errors import CryptoError, ParseError, VerifyError
from fmipkey.events import HkepkRetired, KeyReceived, PrRtAdvRejected
from fmipkey.mn.discovery import rand16
from fmipkey.wire import fmip, icmp6, ndopt

RTSOLPR_TIMEOUT = const(100)  # ms; rfc5568 6.1.1: 100 ms, doubled before each retransmission
REFRESH = const(90)           # ask for a new key at this percentage of its lifetime (rfc5269 3.3)


class Hkepk:
    """The current handover key encryption key pair: private key, its DER SPKI, since when
    it is used (Unix s) and how many handovers (FBUs) it served."""

    def __init__(self, priv, now):
        self.priv = priv
        self.spki = der.encode_spki(priv.public)
        self.since = now.s
        self.handovers = 0


class HandoverKey:
    """A handover key the MN holds: key octets, AT, expiry (Unix s)."""

    def __init__(self, key, at, expiry):
        self.key = key
        self.at = at
        self.expiry = expiry


class _Solicit:
    """The outstanding RtSolPr: identifier, nonce, the HKEPK private key its request
    carries the public half of, and the unsigned body, signed afresh for every send."""

    def __init__(self, ident, nonce, priv, body, retx):
        self.ident = ident
        self.nonce = nonce
        self.priv = priv
        self.body = body
        self.retx = retx


class KeyRequest:
    def __init__(self, node, pool):
        self.node = node
        self.pool = pool
        self._pool_next = 0          # pool keys before this index are used up
        self.hkepk = None            # the current Hkepk
        self.sol = None              # the outstanding _Solicit
        self.refresh = None          # when to ask for a new key (now.ms)
        self._rate = TokenBucket(node.settings.max_rtsolpr_rate)   # MAX_RTSOLPR_RATE (rfc5568 6.1.1)

    def stop(self):
        self.sol = self.refresh = None

    def _take_hkepk(self, now):
        # Same algorithm and size as the CGA key, never the CGA key itself (rfc5269 3.1).
        key = self.node.id.key
        pool = self.pool
        while self._pool_next < len(pool):
            k = pool[self._pool_next]
            self._pool_next += 1
            if k.size == key.size and k.public != key.public:
                self.hkepk = Hkepk(k, now)
                self.node.report.count("hkepk.used")
                return True
        self.hkepk = None
        return False

    def _hkepk_current(self, now):
        # Discard after HKEPK-LIFETIME or HKEPK-HANDOVERS, whichever comes first (rfc5269 3.1).
        s = self.node.settings
        h = self.hkepk
        if h is not None and (now.s - h.since >= s.hkepk_lifetime or h.handovers >= s.hkepk_handovers):
            self.hkepk = None
            self.node.report.event(HkepkRetired())
        return self.hkepk is not None or self._take_hkepk(now)

    def solicit(self, now):
        """Send a new RtSolPr; None when no HKEPK is left."""
        node = self.node
        if not self._hkepk_current(now):
            return None
        ident = rand16()
        body = fmip.RtSolPr.emit(ident, ndopt.fmip_lla(ndopt.LLA_WILDCARD, b"")
                                 + ndopt.hk_request(node.settings.at, self.hkepk.spki))
        self.sol = _Solicit(ident, send.new_nonce(), self.hkepk.priv, body,
                            Retx(None, now, RTSOLPR_TIMEOUT, node.settings.rtsolpr_retries))
        self.refresh = None
        return self._send(now)

    def _send(self, now):
        # Signed at each send with the current Timestamp: a copy of an earlier transmission
        # is a replay to the AR's timestamp cache (rfc3971 5.3.4.2). Identifier and Nonce
        # stay: it is the same solicitation, so a PrRtAdv answering any copy is accepted
        # with the one nonce remembered (rfc3971 5.3.3, rfc5568 6.1.1).
        # Router not known yet: all-routers (rfc5568 6.1.1), the certified key picks the answer.
        node = self.node
        sol = self.sol
        dst = node.router or icmp6.ALL_ROUTERS
        msg = send.message(node.addr, dst, sol.body, node.id.key, cga_params=node.id.cga_params,
                           now=now, nonce=sol.nonce)
        self._rate.take(now)
        node.report.count("sent.rtsolpr")
        return [icmp6.packet(node.addr, dst, msg)]

    def _drop(self, reason):
        self.node.report.drop(reason)
        return None

    def prrtadv(self, ip, m, now):
        """A PrRtAdv (checksum and hop limit checked): the HandoverKey it carries for us
        (its source is the router), or None (dropped and counted)."""
        node = self.node
        r = node.report
        s = node.settings
        sol = self.sol
        if sol is None:
            return self._drop("unexpected")
        src = bytes(ip.src)
        if node.router is not None and src != node.router:
            return self._drop("source")
        if m.identifier != sol.ident:
            return self._drop("identifier")
        known = node.discovery.known
        try:
            v = send.verify(m, src, ip.dst, now, known=known, nonce=sol.nonce,
                            min_bits=s.rsa_min_bits, max_bits=s.rsa_max_bits)
        except VerifyError as e:
            r.event(PrRtAdvRejected(e.code, e.args[0]))
            return self._drop("nonce" if e.code == "nonce" else "send")
        if known.get(v.key_hash) != v.key:     # rfc5269 3.3: only a certified key
            r.event(PrRtAdvRejected("uncertified", "PrRtAdv from an uncertified key"))
            return self._drop("uncertified")
        try:
            reply = m.option(ndopt.HK_REPLY, ndopt.parse_hk_reply)
        except ParseError:
            return self._drop("malformed")
        if reply is None:
            return self._drop("no_hk_reply")
        at, lifetime, enc = reply
        if at not in badf.ALGS or at < s.at:     # unsupported, or weaker than asked
            return self._drop("at")
        if not lifetime:
            return self._drop("lifetime")
        try:
            key = rsa.decrypt(sol.priv, enc)
        except CryptoError:
            return self._drop("decrypt")
        if len(key) != badf.key_len(at):
            return self._drop("key_length")
        self.sol = None
        self.refresh = now.ms + lifetime * (10 * REFRESH)
        r.count("keys.received")
        # The signature covers the source address: the key's holder is there (rfc5269 3.3:
        # keys indexed by the AR's address, the FBU's destination).
        r.event(KeyReceived(src, node.addr, key, at, lifetime, now.s + lifetime))
        return HandoverKey(key, at, now.s + lifetime)

    def tick(self, now):
        """The outstanding RtSolPr's retransmission if due: packets, or None when it gave up."""
        t = self.sol.retx
        if now.ms >= t.due and t.left and not self._rate.available(now):
            t.due = self._rate.ready_at(now)      # held back by MAX_RTSOLPR_RATE
            return []
        d = t.check(now)
        if d == Retx.GIVE_UP:
            self.sol = None
            return None
        if d:
            self.node.report.count("resent.rtsolpr")
            return self._send(now)
        return []
