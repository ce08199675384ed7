# Mobile node engine (RFC 5269 3.1, 3.3, 3.4 over RFC 3971 6.4 and RFC 5568 6.1-6.2):
# learn the AR's certified key (CPS/CPA + path validation), ask for a handover key
# (SEND-signed RtSolPr with a Handover Key Request), take it from the PrRtAdv, and
# authenticate the FBU with it. Sans-IO: packets and `now` in, packets out.
from fmipkey import badf, config, send
from fmipkey.compat import const
from fmipkey.crypto import der, rsa, x509
from fmipkey.errors import CryptoError, ParseError, VerifyError
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt

MAX_SOURCES = const(3)       # CPA sources collected at once; the oldest makes room
MAX_PATH = const(4)          # certificates kept per source: with MAX_SOURCES, bounds memory
MAX_KEYS = const(4)          # certified router keys kept; the oldest makes room
RTSOLPR_TIMEOUT = 0.1        # rfc5568 6.1.1: 100 ms, doubled before each retransmission
CPS_RETRY = const(1)         # rfc3971 10.1: 1 s doubling, give up after CPS_RETRY_MAX
CPS_RETRIES = const(3)       # 1 + 2 + 4 + 8 = 15 s = CPS_RETRY_MAX
FBU_TIMEOUT = const(1)       # rfc3775 INITIAL_BINDACK_TIMEOUT, doubled per retransmission
FBU_LIFETIME = const(300)    # binding lifetime the FBU asks for, s
REFRESH = 0.9                # ask for a new key at this fraction of its lifetime (rfc5269 3.3)


def _rand16():
    # A non-zero 16-bit identifier or sequence start (rfc3971 6.4.1: random, not zero).
    v = 0
    while not v:
        v = int.from_bytes(send.new_nonce(2), "big")
    return v


_RESYNC = (0x8000, 0x4000, 0xC000)  # FBU sequence offsets tried after a refusal (see _fback)


class _Retx:
    """A message sent until answered: the packet resent as is (None: rebuilt per send),
    when it is next due, the current timeout and how many retransmissions are left."""

    def __init__(self, pkt, now, timeout, left):
        self.pkt = pkt
        self.timeout = timeout
        self.due = now + timeout
        self.left = left


class _Path:
    """Certificates from one CPA source (unauthenticated until validated): All Components
    and component -> DER."""

    def __init__(self, src, n):
        self.src = src
        self.n = n
        self.certs = {}


class _Solicit:
    """The outstanding RtSolPr: identifier, nonce, the HKEPK whose key it carries and the
    unsigned body, signed afresh for every (re)transmission."""

    def __init__(self, ident, nonce, hkepk, body, retx):
        self.ident = ident
        self.nonce = nonce
        self.hkepk = hkepk
        self.body = body
        self.retx = retx


class MobileNode:
    def __init__(self, cfg, identity, anchors, hkepk_pool):
        self.cfg = cfg
        self.id = identity
        self.addr = identity.addr
        self.anchors = anchors
        self.pool = hkepk_pool
        self.prefix = config.parse_prefix(cfg["prefix"]) + bytes(8)
        # None until a PrRtAdv signed by a certified key names it (its source), unless configured
        self.router = config.parse_addr(cfg["router"]) if cfg["router"] else None
        self.state = "idle"
        self.counters = {}
        self.events = []
        self.keys = {}               # (ar_addr, mn_cga) -> (key, at, expiry)
        self.known = {}              # {key hash: PublicKey} of certified router keys, for send.verify
        self._certified = []         # the same key hashes, oldest first (bounds known)
        self._pool_next = 0          # pool keys before this index are used up
        self.hkepk = None            # current handover key encryption key pair
        self._hkepk_since = 0
        self.hkepk_handovers = 0     # handovers (FBUs) under the current HKEPK
        self._cps_id = None          # the CPS identifier CPAs must carry
        self._cps = None             # _Retx of the CPS until a path validates
        self._paths = None           # [_Path], oldest first, while collecting CPAs
        self._sol = None             # the outstanding _Solicit
        self._sent = []              # times of the last MAX_RTSOLPR_RATE RtSolPrs
        self._refresh = None         # when to ask for a new key
        self._fbu = None             # (seq, par, ncoa, key, at, _Retx) while an FBU is outstanding
        self._seq = _rand16()
        self._resync = 0             # sequence resynchronisations tried for the current FBU

    # -- bookkeeping ---------------------------------------------------------
    def _count(self, name):
        self.counters[name] = self.counters.get(name, 0) + 1

    def _drop(self, reason):
        self._count("dropped." + reason)
        return []

    def _fail(self, name, text):
        self.state = "failed"
        self.events.append((name, text))
        self._cps = self._sol = self._fbu = None
        self._paths = self._refresh = None      # failed is final: no timer runs again
        return []

    # -- certification path (rfc3971 6.4) ------------------------------------
    def start(self, now):
        """Send a CPS for the router's certification path."""
        ident = _rand16()
        opts = b"".join(ndopt.trust_anchor(ndopt.NAME_DER, a.subject) for a in self.anchors)
        pkt = icmp6.packet(self.addr, self.router or icmp6.ALL_ROUTERS, certpath.Cps.emit(ident, options=opts))
        self._cps_id = ident
        self._cps = _Retx(pkt, now, CPS_RETRY, CPS_RETRIES)
        self._paths = []
        self.state = "discovering"
        self._count("sent.cps")
        return [pkt]

    def _cpa(self, ip, now):
        # A CPA proves nothing about its source: certificates are kept per source, and a
        # path that validates certifies a KEY, not an address (anyone can replay a genuine
        # router's CPAs). A bad path is not final: a newer copy of a component replaces the
        # old one and the set is tried again, and other sources and CPS retransmissions go
        # on until the CPS timeout. With no router configured, paths keep being collected
        # until a PrRtAdv names the router: the first valid one may be another router's.
        if self._paths is None:
            return self._drop("unexpected")
        m = certpath.parse(ip.payload)
        if m.identifier not in (self._cps_id, 0):    # 0: a CPA sent to all-nodes (rfc3971 6.4.2)
            return self._drop("identifier")
        src = bytes(ip.src)
        if self.router is not None and src != self.router:    # the configured router only
            return self._drop("source")
        n = m.all_components
        if n == 0:                  # rfc3971 6.4.5: the router has no path to our anchors
            self.events.append(("cpa-no-path", "router %s has no path to our trust anchors"
                                % config.format_addr(src)))
            return self._drop("no_path")
        if n > MAX_PATH or m.component >= n:
            return self._drop("components")
        c = m.option(ndopt.CERTIFICATE, ndopt.parse_certificate)
        if c is None:
            return self._drop("no_certificate")
        ctype, cert = c
        if ctype != ndopt.CERT_X509:
            return self._drop("cert_type")
        p = self._path_of(src, n)
        p.certs[m.component] = bytes(cert)
        if len(p.certs) < n:
            return []
        try:
            leaf = x509.validate_path([p.certs[k] for k in p.certs], self.anchors, now)
            if not x509.covers(leaf, self.prefix, 64):
                raise VerifyError("router certificate does not cover %s" % self.cfg["prefix"])
        except (ParseError, VerifyError) as e:
            self._count("path.invalid")
            self.events.append(("path-invalid", "router %s: %s" % (config.format_addr(src), e.args[0])))
            return []
        self._paths.remove(p)
        self._certify(leaf.public_key)
        self.events.append(("path-valid", "router key from %s certified by %s" % (config.format_addr(src), leaf.name())))
        if self.router is not None:    # configured: its path is all we need
            self._paths = None
        if self._cps is None:          # already soliciting: the new key can sign the answer
            return []
        self._cps = None
        self.state = "validated"
        return self._solicit(now)

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
        paths = self._paths
        for p in paths:
            if p.src == src:
                if p.n == n:
                    return p
                paths.remove(p)
                break
        if len(paths) >= MAX_SOURCES:
            del paths[0]
            self._count("dropped.cpa_sources")
        p = _Path(src, n)
        paths.append(p)
        return p

    # -- handover key request (rfc5269 3.1) ----------------------------------
    def _take_hkepk(self, now):
        # Same algorithm and size as the CGA key, never the CGA key itself (rfc5269 3.1).
        size = self.id.key.size
        pool = self.pool
        while self._pool_next < len(pool):
            k = pool[self._pool_next]
            self._pool_next += 1
            if k.size == size and k.public != self.id.key.public:
                self.hkepk = (k, der.encode_spki(k.public))
                self._hkepk_since = now
                self.hkepk_handovers = 0
                self._count("hkepk.used")
                return True
        self.hkepk = None
        return False

    def _hkepk_current(self, now):
        # Discard after HKEPK-LIFETIME or HKEPK-HANDOVERS, whichever comes first (rfc5269 3.1).
        if self.hkepk is not None and (now - self._hkepk_since >= self.cfg["hkepk_lifetime"]
                                       or self.hkepk_handovers >= self.cfg["hkepk_handovers"]):
            self.hkepk = None
            self.events.append(("hkepk-retired", "handover key encryption key pair replaced"))
        return self.hkepk is not None or self._take_hkepk(now)

    def _solicit(self, now):
        if not self._hkepk_current(now):
            return self._fail("hkepk-exhausted", "no handover key encryption key pair of %d bits left; "
                              "provision more (fmipkey provision)" % (self.id.key.size * 8))
        priv, spki = self.hkepk
        ident = _rand16()
        body = fmip.RtSolPr.emit(ident, ndopt.fmip_lla(ndopt.LLA_WILDCARD, b"")
                            + ndopt.hk_request(self.cfg["at"], spki))
        self._sol = _Solicit(ident, send.new_nonce(), priv, body,
                             _Retx(None, now, RTSOLPR_TIMEOUT, self.cfg["rtsolpr_retries"]))
        self._refresh = None
        if self.state not in ("keyed", "fbu-sent", "done"):
            self.state = "requesting"
        return self._send_rtsolpr(now)

    def _send_rtsolpr(self, now):
        # Signed at each send with the current Timestamp: a copy of an earlier transmission
        # is a replay to the AR's timestamp cache (rfc3971 5.3.4.2). Identifier and Nonce
        # stay: it is the same solicitation, so a PrRtAdv answering any copy is accepted
        # with the one nonce remembered (rfc3971 5.3.3, rfc5568 6.1.1).
        # Router not known yet: all-routers (rfc5568 6.1.1), the certified key picks the answer.
        sol = self._sol
        dst = self.router or icmp6.ALL_ROUTERS
        msg = send.message(self.addr, dst, sol.body, self.id.key, cga_params=self.id.cga_params,
                           now=now, nonce=sol.nonce)
        self._sent.append(now)
        del self._sent[:-self.cfg["max_rtsolpr_rate"]]
        self._count("sent.rtsolpr")
        return [icmp6.packet(self.addr, dst, msg)]

    def _prrtadv(self, ip, m, now):
        sol = self._sol
        if sol is None:
            return self._drop("unexpected")
        src = bytes(ip.src)
        if self.router is not None and src != self.router:
            return self._drop("source")
        if m.identifier != sol.ident:
            return self._drop("identifier")
        try:
            v = send.verify(m, src, ip.dst, now, known=self.known, nonce=sol.nonce,
                            min_bits=self.cfg["rsa_min_bits"], max_bits=self.cfg["rsa_max_bits"])
        except VerifyError as e:
            self.events.append(("prrtadv-rejected", e.args[0]))
            return self._drop("nonce" if e.code == "nonce" else "send")
        if self.known.get(v.key_hash) != v.key:     # rfc5269 3.3: only a certified key
            self.events.append(("prrtadv-rejected", "PrRtAdv from an uncertified key"))
            return self._drop("uncertified")
        try:
            reply = m.option(ndopt.HK_REPLY, ndopt.parse_hk_reply)
        except ParseError:
            return self._drop("malformed")
        if reply is None:
            return self._drop("no_hk_reply")
        at, lifetime, enc = reply
        if at not in badf.ALGS or at < self.cfg["at"]:     # unsupported, or weaker than asked
            return self._drop("at")
        if not lifetime:
            return self._drop("lifetime")
        try:
            key = rsa.decrypt(sol.hkepk, enc)
        except CryptoError:
            return self._drop("decrypt")
        if len(key) != badf.key_len(at):
            return self._drop("key_length")
        self._sol = None
        # The signature covers the source address: the key's holder is there (rfc5269 3.3:
        # keys indexed by the AR's address, the FBU's destination).
        self.router = src
        self._paths = None
        for k in [k for k in self.keys if self.keys[k][2] <= now]:
            del self.keys[k]
        self.keys[(self.router, self.addr)] = (key, at, now + lifetime)
        self._refresh = now + lifetime * REFRESH
        self._count("keys.received")
        self.events.append(("key", "AT %d, %d s from %s" % (at, lifetime, config.format_addr(self.router))))
        if self.state in ("validated", "requesting"):
            self.state = "keyed"
        return []

    # -- fast binding update (rfc5568 6.2.2, rfc5269 3.4) ---------------------
    def fbu(self, par_addr, ncoa, now):
        """FBU from the previous care-of CGA to the PAR, authenticated with its handover key."""
        par = bytes(par_addr)
        ent = self.keys.get((par, self.addr))
        if ent is None or ent[2] <= now:
            return self._fail("fbu-no-key", "no live handover key for PAR %s" % config.format_addr(par))
        key, at, _ = ent
        self.hkepk_handovers += 1
        self.state = "fbu-sent"
        self._resync = 0
        self._seq = (self._seq + 1) & 0xFFFF
        return self._send_fbu(par, bytes(ncoa), key, at, now)

    def _send_fbu(self, par, ncoa, key, at, now):
        m, off = mh.Fbu.emit(self._seq, FBU_LIFETIME, alt_coa=ncoa, auth_len=badf.auth_len(at))
        badf.sign(key, at, m, off, ncoa, par)
        pkt = mh.packet(self.addr, par, m, home=self.addr, hlim=255)
        self._fbu = (self._seq, par, ncoa, key, at, _Retx(pkt, now, FBU_TIMEOUT, self.cfg["fbu_retries"]))
        self._count("sent.fbu")
        return [pkt]

    def _fback(self, buf, now):
        if self._fbu is None:
            return self._drop("unexpected")
        ip, home, m = mh.parse_packet(buf)
        seq, par, ncoa, key, at, _ = self._fbu
        if m.type != mh.FBACK:
            return self._drop("mh_type")
        if bytes(ip.src) != par:
            return self._drop("source")
        if m.seq != seq:
            return self._drop("sequence")
        if not mh.checksum_ok(m, ip.src, ip.dst, home):
            return self._drop("checksum")
        if not badf.verify(key, at, m, ncoa, par):
            return self._drop("badf")
        self._fbu = None
        if m.status == 128 and self._resync < len(_RESYNC):
            # The PAR keeps the last sequence number it accepted with the key, across our
            # restarts: move ours to another part of the 16-bit space (rfc3775 9.5.1 compares
            # modulo 2^16); these three offsets from the refused number reach "newer" whatever
            # the PAR holds. The FBack carried a valid BADF, so only the PAR can trigger this.
            self._seq = (self._seq - (_RESYNC[self._resync - 1] if self._resync else 0) + _RESYNC[self._resync]) & 0xFFFF
            self._resync += 1
            self._count("fbu.resync")
            return self._send_fbu(par, ncoa, key, at, now)
        if m.status < 128:
            self.state = "done"
            self.events.append(("fbu-accepted", "status %d, lifetime %d" % (m.status, m.lifetime)))
        else:
            self._fail("fbu-rejected", "status %d" % m.status)
        return []

    # -- packets and timers --------------------------------------------------
    def handle(self, packet, now):
        """A received IPv6 packet: CPA, PrRtAdv or FBack; anything else is ignored."""
        self._count("received")
        try:
            ip = icmp6.IPv6(packet)
            if ip.nh in (icmp6.NH_MH, icmp6.NH_DSTOPTS):
                return self._fback(packet, now)
            if ip.nh != icmp6.NH_ICMPV6 or len(ip.payload) < 4:
                return self._drop("not_for_mn")
            t = ip.payload[0]
            if t not in (certpath.ICMP_CPA, fmip.ICMP_FMIP):
                return self._drop("not_for_mn")
            if ip.hlim != 255:
                return self._drop("hop_limit")
            if not icmp6.checksum_ok(ip.payload, ip.src, ip.dst):
                return self._drop("checksum")
            if t == certpath.ICMP_CPA:
                return self._cpa(ip, now)
            m = fmip.parse(ip.payload)
            if m.subtype != fmip.PRRTADV:
                return self._drop("not_for_mn")
            return self._prrtadv(ip, m, now)
        except ParseError:
            return self._drop("malformed")

    def _due(self, r, now, what):
        # One retransmission timer: None (not due), "resend" or "give-up".
        if now < r.due:
            return None
        if not r.left:
            return "give-up"
        r.left -= 1
        r.timeout *= 2
        r.due = now + r.timeout
        self._count("resent." + what)
        return "resend"

    def tick(self, now):
        """Retransmissions, and a new key request before the key's lifetime ends."""
        out = []
        if self._cps is not None:
            d = self._due(self._cps, now, "cps")
            if d == "give-up":
                return self._fail("cps-timeout", "no valid certification path from the router")
            if d:
                out.append(self._cps.pkt)
        sol = self._sol
        if sol is not None:
            r = sol.retx
            rate = self.cfg["max_rtsolpr_rate"]
            if now >= r.due and r.left and len(self._sent) >= rate and now - self._sent[-rate] < 1:
                r.due = self._sent[-rate] + 1      # MAX_RTSOLPR_RATE per second (rfc5568 6.1.1)
            else:
                d = self._due(r, now, "rtsolpr")
                if d == "give-up":
                    self._sol = None
                    if self.state == "requesting":
                        return self._fail("rtsolpr-timeout", "no PrRtAdv from the router")
                    self.events.append(("rtsolpr-timeout", "no new handover key from the router"))
                elif d:
                    out.extend(self._send_rtsolpr(now))
        elif self._refresh is not None and now >= self._refresh:
            out.extend(self._solicit(now))
        if self._fbu is not None:
            r = self._fbu[5]
            d = self._due(r, now, "fbu")
            if d == "give-up":
                return self._fail("fbu-timeout", "no FBack from the PAR")
            if d:
                out.append(r.pkt)
        return out
