# Access router engine (RFC 5269 3.2, 3.5 over RFC 5568 6.1-6.2 and RFC 3971 6.4):
# answers RtSolPrs with signed PrRtAdvs that carry the FMIPv6 neighbourhood and,
# for a SEND-verified Handover Key Request, the MN's handover key encrypted under
# its HKEPK; serves the certification path (CPS/CPA); accepts FBUs whose BADF
# checks out with that key. Sans-IO: packets and `now` in, packets out.
from fmipkey import badf, config, send
from fmipkey.compat import const
from fmipkey.crypto import der, rsa, x509
from fmipkey.errors import CryptoError, ParseError, VerifyError
from fmipkey.keystore import OWNER_LEN
from fmipkey.wire import certpath, fmip, icmp6, mh, ndopt

MAX_APS = const(4)        # AP tuples per PrRtAdv: keeps a signed RSA-2048 answer under 1280 octets
MAX_EVENTS = const(32)    # events kept until the daemon drains them

# FBack Status (rfc5568 6.2.3) per reason an FBU is refused
ACCEPTED = const(0)
UNSPECIFIED_REASON = const(128)   # sequence number not newer than the last accepted one
PROHIBITED = const(129)           # not authorized: no/expired key, no BADF, bad SPI or MAC
NO_RESOURCES = const(130)         # binding table full


class AccessRouter:
    def __init__(self, cfg, identity, certs, keystore, mac=None):
        """certs: DER certificates, router certificate first; mac: the AR's link-layer
        address for a Source LLA option (optional)."""
        self.cfg = cfg
        self.id = identity
        self.addr = identity.addr
        self.keystore = keystore
        self.counters = {}
        self.events = []
        self.bindings = {}            # PCoA -> (NCoA, expiry); FBU sequence numbers live in the keystore
        self._ts = send.Timestamps(cfg["peer_cache_max"], cfg["timestamp_delta"], cfg["timestamp_fuzz"],
                                   cfg["timestamp_drift"])
        self._src_lla = ndopt.fmip_lla(ndopt.LLA_SOURCE, mac) if mac else b""
        self._prefix = config.parse_prefix(cfg["prefix"])
        self._neighbors = [(config.parse_lla(n["ap_id"]), config.parse_lla(n["nar_lla"]),
                            config.parse_addr(n["nar_addr"]), config.parse_prefix(n["nar_prefix"]),
                            n.get("fmip", True)) for n in cfg["neighbors"]]
        # token bucket for PrRtAdv signatures: every RtSolPr, even a forged one, costs one
        self._tokens = cfg["max_prrtadv_rate"]
        self._tokens_at = None
        # Certification path as sent (rfc3971 6.4.2): the trust anchor (a self-signed
        # certificate at the end) is not sent; issuer names let a CPS pick its anchor.
        path = []
        for c in certs:
            p = x509.parse(c)
            if bytes(p.issuer) == bytes(p.subject):
                break
            path.append((bytes(c), bytes(p.issuer)))
        self._path = path
        self._cpa_times = []          # when the CPAs of the last second went out
        self._cpa_pending = -1        # next component of a paced all-nodes advertisement, -1 none

    # -- bookkeeping ---------------------------------------------------------
    def _count(self, name):
        self.counters[name] = self.counters.get(name, 0) + 1

    def _drop(self, reason):
        self._count("dropped." + reason)
        return []

    def _event(self, name, text):
        if len(self.events) >= MAX_EVENTS:
            del self.events[0]
            self._count("events.lost")
        self.events.append((name, text))

    @property
    def keystore_dirty(self):
        return self.keystore.dirty

    @keystore_dirty.setter
    def keystore_dirty(self, v):
        self.keystore.dirty = v

    # -- packets and timers --------------------------------------------------
    def handle(self, packet, now):
        """A received IPv6 packet: RtSolPr, CPS or FBU; anything else is ignored."""
        self._count("received")
        try:
            ip = icmp6.IPv6(packet)
            if ip.nh == icmp6.NH_ICMPV6:
                return self._icmp(ip, now)
            if ip.nh in (icmp6.NH_MH, icmp6.NH_DSTOPTS):
                return self._fbu(packet, now)
        except ParseError:
            return self._drop("malformed")
        self._count("ignored")
        return []

    def tick(self, now):
        """Expire bindings and send the paced all-nodes CPA components that are due."""
        self._expire(now)
        out = []
        while self._cpa_pending >= 0 and self._cpa_budget(now) > 0:
            c = self._cpa_pending
            out.append(self._cpa(0, icmp6.ALL_NODES, len(self._path), c, self._path[c][0], c == len(self._path) - 1, now))
            self._cpa_pending = c - 1
        return out

    def _icmp(self, ip, now):
        p = ip.payload
        if len(p) < 4:
            return self._drop("malformed")
        t = p[0]
        if t not in (fmip.ICMP_FMIP, certpath.ICMP_CPS):
            self._count("ignored")
            return []
        if ip.hlim != 255:
            return self._drop("hop_limit")
        if not icmp6.checksum_ok(p, ip.src, ip.dst):
            return self._drop("checksum")
        if t == certpath.ICMP_CPS:
            return self._cps(ip, now)
        return self._rtsolpr(ip, now)

    # -- RtSolPr -> PrRtAdv (rfc5568 6.1.2, rfc5269 3.2) ---------------------
    def _rtsolpr(self, ip, now):
        dst = bytes(ip.dst)
        src = bytes(ip.src)
        if dst != self.addr and dst != icmp6.ALL_ROUTERS:
            return self._drop("not_ours")
        if src[0] == 0xFF or src == icmp6.UNSPECIFIED:
            return self._drop("source")
        m = fmip.parse(ip.payload)
        if m.subtype != fmip.RTSOLPR:
            self._count("ignored")
            return []
        aps = [a for a in m.options(ndopt.FMIP_LLA, ndopt.parse_fmip_lla)
               if a[0] in (ndopt.LLA_WILDCARD, ndopt.LLA_NEW_AP)]
        if not aps:
            return self._drop("no_new_ap")       # rfc5568 6.1.1: MUST be included
        nonce = m.option(ndopt.NONCE, ndopt.parse_nonce)
        nonce = bytes(nonce) if nonce is not None else None
        if not self._token(now):
            return self._drop("rate")             # before any RSA operation
        self._count("rtsolpr")
        code, opts = self._neighborhood(aps)
        reply = b"" if m.find(ndopt.HK_REQUEST) is None else self._hk_reply(m, ip, src, now)
        # rfc5269 3.2: every PrRtAdv is signed (CGA + RSA Signature), the Nonce echoed
        msg = send.message(self.addr, src, fmip.PrRtAdv.emit(code, m.identifier, self._src_lla + opts + reply),
                           self.id.key, cga_params=self.id.cga_params, now=now, nonce=nonce)
        self._count("prrtadv")
        return [icmp6.packet(self.addr, src, msg)]

    def _token(self, now):
        rate = self.cfg["max_prrtadv_rate"]
        if self._tokens_at is not None:
            self._tokens = min(rate, self._tokens + max(0, now - self._tokens_at) * rate)
        self._tokens_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _neighborhood(self, aps):
        """(PrRtAdv Code, options) for the requested APs (rfc5568 6.1.2, 6.4.3): a known
        NAR gets its tuple (Option-Code 1), an AP of our own prefix Option-Code 5, an
        unknown AP Option-Code 6, a neighbour configured "fmip": false Option-Code 7;
        Code 0 all resolved, 2 none, 3 some. A wildcard lists the whole neighbourhood."""
        if aps[0][0] == ndopt.LLA_WILDCARD and self._neighbors:
            aps = [(ndopt.LLA_NEW_AP, n[0]) for n in self._neighbors]
        opts = []
        resolved = 0
        for _, ap in aps[:MAX_APS]:
            n = self._neighbor(ap)
            if n is None:
                opts.append(ndopt.fmip_lla(ndopt.LLA_NO_PREFIX, ap))
            elif not n[4]:
                opts.append(ndopt.fmip_lla(ndopt.LLA_NO_FMIP, ap))
            elif n[3] == self._prefix:
                opts.append(ndopt.fmip_lla(ndopt.LLA_SAME_ROUTER, ap))
            else:
                resolved += 1
                opts.append(ndopt.fmip_lla(ndopt.LLA_NEW_AP, ap) + ndopt.fmip_lla(ndopt.LLA_NAR, n[1])
                            + ndopt.ip_addr(3, 128, n[2]) + ndopt.ip_addr(4, 64, n[3] + bytes(8)))
        n = len(opts)
        return (0 if resolved == n else 2 if resolved == 0 else 3), b"".join(opts)

    def _neighbor(self, ap):
        # The LLA field carries padding after the address: match on the configured id's length.
        for n in self._neighbors:
            k = len(n[0])
            if bytes(ap[:k]) == n[0] and not any(ap[k:]):
                return n
        return None

    def _refuse(self, reason, text):
        self._count("keys.refused." + reason)
        self._event("hk-refused", text)
        return b""

    def _hk_reply(self, m, ip, src, now):
        """The Handover Key Reply option for a verified request, else b"" (rfc5269 3.2:
        no Reply and no key record touched when the RtSolPr does not validate)."""
        try:
            at, spki = m.option(ndopt.HK_REQUEST, ndopt.parse_hk_request)
            hkepk = der.parse_spki(spki)
        except ParseError as e:
            return self._refuse("hkepk", "%s: handover key encryption key: %s" % (config.format_addr(src), e.args[0]))
        try:
            v = send.verify(m, src, ip.dst, now, timestamps=self._ts, solicitation=True,
                            min_bits=self.cfg["rsa_min_bits"], max_bits=self.cfg["rsa_max_bits"])
        except VerifyError as e:
            self._count("rtsolpr.unverified." + e.code)
            self._event("rtsolpr-unverified", "%s: %s" % (config.format_addr(src), e.args[0]))
            return b""
        # rfc5269 4.1: same algorithm and parameters as the CGA key; 3.1: never the CGA key itself
        if hkepk.bits != v.key.bits or hkepk == v.key:
            return self._refuse("hkepk_size", "%s: handover key encryption key of %d bits for a %d-bit CGA key"
                                % (config.format_addr(src), hkepk.bits, v.key.bits))
        if at not in badf.ALGS:
            at = 1                           # unsupported: the stronger one we have
        old = self.keystore.get(src, now)
        owner = bytes(v.key_hash[:OWNER_LEN])
        # Sec 0 CGAs cost nothing to mint: without a cap one RSA key could fill the store
        if old is None and self.keystore.owned(owner, now) >= self.cfg["keys_per_pubkey"]:
            return self._refuse("per_key", "%s: %d live keys for its public key already"
                                % (config.format_addr(src), self.cfg["keys_per_pubkey"]))
        # the existing key if its AT is the one asked or stronger (3.2), else a new one for that AT
        rec = self.keystore.issue(src, at, now, owner)
        if rec is None:
            return self._refuse("full", "%s: key store full" % config.format_addr(src))
        reused = old is not None and rec[0] == old[0]
        key, at, expiry = rec
        try:
            enc = rsa.encrypt(hkepk, key)
        except CryptoError as e:
            return self._refuse("encrypt", "%s: %s" % (config.format_addr(src), e.args[0]))
        life = min(max(expiry - int(now), 1), 65535)
        self._count("keys.reused" if reused else "keys.issued")
        self._event("hk-reused" if reused else "hk-issued", "%s AT %d, %d s" % (config.format_addr(src), at, life))
        return ndopt.hk_reply(at, life, enc)

    # -- CPS -> CPA (rfc3971 6.4.1, 6.4.2, 6.4.5) ----------------------------
    def _cps(self, ip, now):
        dst = bytes(ip.dst)
        src = bytes(ip.src)
        if dst != self.addr and dst != icmp6.ALL_ROUTERS and dst != icmp6.solicited_node(self.addr):
            return self._drop("not_ours")
        if src[0] == 0xFF:
            return self._drop("source")
        m = certpath.parse(ip.payload)
        if m.type != certpath.ICMP_CPS or m.code != 0 or m.identifier == 0:
            return self._drop("cps_format")
        self._count("cps")
        path = self._path
        names = [bytes(n) for t, n in m.options(ndopt.TRUST_ANCHOR, ndopt.parse_trust_anchor) if t == ndopt.NAME_DER]
        if names:
            # the shortest part of our path that ends below a solicited anchor
            for k in range(len(path)):
                if path[k][1] in names:
                    path = path[:k + 1]
                    break
            else:
                path = []
        comps = range(len(path) - 1, -1, -1)
        if m.component != certpath.ALL_COMPONENTS:
            if m.component >= len(path):
                return self._drop("cps_component")
            comps = (m.component,)
        n = len(comps) or 1
        if src == icmp6.UNSPECIFIED or self._cpa_budget(now) < n:
            # rfc3971 6.4.5: unspecified source, or over MAX_CPA_RATE: the whole path to
            # all-nodes, paced by tick()
            if self._cpa_pending < 0 and self._path:
                self._cpa_pending = len(self._path) - 1
                self._count("cpa.deferred")
            return self.tick(now)
        dst = icmp6.solicited_node(src)
        if not path:
            # no path to the solicited anchor: an advertisement without certificates that
            # names the anchors asked for (rfc3971 6.4.5)
            opts = b"".join(ndopt.trust_anchor(ndopt.NAME_DER, a) for a in names)
            return [self._cpa(m.identifier, dst, 0, 0, None, False, now, opts)]
        out = []
        for c in comps:
            out.append(self._cpa(m.identifier, dst, len(path), c, path[c][0], c == len(path) - 1, now))
        self._event("cpa-sent", "%d of %d certificates to %s" % (len(out), len(path), config.format_addr(src)))
        return out

    def _cpa_budget(self, now):
        t = self._cpa_times
        while t and t[0] <= now - 1:
            del t[0]
        return self.cfg["max_cpa_rate"] - len(t)

    def _cpa(self, ident, dst, total, comp, cert, first, now, opts=b""):
        # One CPA with one certificate; the first component names the anchor its path ends at.
        if first:
            opts += ndopt.trust_anchor(ndopt.NAME_DER, self._path[comp][1])
        if cert is not None:
            opts += ndopt.certificate(cert)
        self._cpa_times.append(now)
        self._count("cpa")
        return icmp6.packet(self.addr, dst, certpath.Cpa.emit(ident, total, comp, opts))

    # -- FBU -> FBack (rfc5568 6.2.2, 6.2.3, 6.4.5; rfc5269 3.5) ---------------
    def _fbu(self, packet, now):
        ip, home, m = mh.parse_packet(packet)
        if m.type != mh.FBU:
            self._count("ignored")
            return []
        if bytes(ip.dst) != self.addr:
            return self._drop("not_ours")
        if not mh.checksum_ok(m, ip.src, ip.dst, home):
            return self._drop("checksum")
        self._count("fbu")
        src = bytes(ip.src)
        par = self.addr
        if home is None:
            return self._reject(src, m, None, None, PROHIBITED, "no_home", "no Home Address option")
        pcoa = bytes(home)
        ncoa = bytes(m.alt_coa) if m.alt_coa is not None else src
        # rfc5269 3.5: the key is found by the care-of CGA in the Home Address option
        rec = self.keystore.get(pcoa, now)
        if rec is None:
            return self._reject(src, m, None, ncoa, PROHIBITED, "no_key", "no live handover key for %s"
                                % config.format_addr(pcoa))
        key, at, kexp = rec
        if not badf.verify(key, at, m, ncoa, par):
            return self._reject(src, m, rec, ncoa, PROHIBITED, "badf", "BADF missing or wrong for %s"
                                % config.format_addr(pcoa))
        # The last accepted sequence number is kept with the key (sealed, saved before the
        # FBack leaves), so a replayed FBU is refused after a deregistration, an expired
        # binding or a restart: the BADF binds every FBU to that key.
        b = self.bindings.get(pcoa)
        if b is not None and b[1] <= now:
            b = None
        last = self.keystore.last_seq(pcoa)
        if last is not None:
            d = (m.seq - last) & 0xFFFF
            # The same number is the last accepted FBU again (the BADF covers it all): a
            # retransmission, acknowledged again only while it would change nothing.
            unchanged = b is None if m.lifetime == 0 else b is not None and b[0] == ncoa
            if d == 0 and unchanged:
                return [self._fback(src, m, rec, ncoa, ACCEPTED, int(b[1] - now) if b else 0)]
            if d == 0 or d >= 0x8000:                                         # rfc3775 9.5.1
                return self._reject(src, m, rec, ncoa, UNSPECIFIED_REASON, "seq", "sequence number %d not newer"
                                    " than %d" % (m.seq, last))
        expiry = min(now + m.lifetime, kexp)   # forwarding ends with the key (rfc5269 3.6)
        if m.lifetime == 0:
            self.bindings.pop(pcoa, None)
        else:
            if b is None and len(self.bindings) >= self.cfg["keystore_max"]:
                self._expire(now)
                if len(self.bindings) >= self.cfg["keystore_max"]:
                    return self._reject(src, m, rec, ncoa, NO_RESOURCES, "full", "binding table full")
            self.bindings[pcoa] = (ncoa, expiry)
        self.keystore.accept_seq(pcoa, m.seq)
        life = int(expiry - now)
        self._count("fbu.accepted")
        self._event("fbu-accepted", "%s -> %s for %d s" % (config.format_addr(pcoa), config.format_addr(ncoa), life))
        return [self._fback(src, m, rec, ncoa, ACCEPTED, life)]

    def _expire(self, now):
        for p in [p for p in self.bindings if self.bindings[p][1] <= now]:
            del self.bindings[p]

    def _reject(self, dst, m, rec, ncoa, status, reason, text):
        # No state changes. The FBack carries a BADF only when there is a key to make it with.
        self._count("fbu.rejected." + reason)
        self._event("fbu-rejected", text)
        return [self._fback(dst, m, rec, ncoa, status, 0)]

    def _fback(self, dst, m, rec, ncoa, status, lifetime):
        # Sent where the FBU came from: the PCoA on our link, or the NCoA (rfc5568 6.2.3).
        if rec is None:
            fb, off = mh.Fback.emit(status, m.seq, lifetime, auth_len=0)
        else:
            key, at, _ = rec
            fb, off = mh.Fback.emit(status, m.seq, lifetime, auth_len=badf.auth_len(at))
            badf.sign(key, at, fb, off, ncoa, self.addr)
        self._count("fback")
        return mh.packet(self.addr, dst, fb, hlim=255)
