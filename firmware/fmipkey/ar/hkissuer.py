# The handover key issuer (rfc5269 3.2, 3.6): verifies an RtSolPr, and makes the Handover
# Key Reply for a verified request, with the MN's key (new or reused) encrypted under its
# HKEPK; the limits on who gets a key slot are in docs/hostile-link.md.
from fmipkey import badf, send
from fmipkey.crypto import der, rsa
from fmipkey.errors import CryptoError, ParseError, VerifyError
from fmipkey.events import KeyIssued, KeyRefused, RtSolPrUnverified
from fmipkey.keystore import OWNER_LEN
from fmipkey.wire import ndopt


class KeyIssuer:
    def __init__(self, settings, keystore, report):
        self.settings = settings
        self.keystore = keystore
        self.report = report
        self._ts = send.Timestamps(settings.peer_cache_max, settings.timestamp_delta, settings.timestamp_fuzz,
                                   settings.timestamp_drift)
        self._lla = {}        # CGA -> MAC of the request that got it a (still provisional) key

    def _per_lla(self, mac):
        # provisional keys issued to requests from this MAC; forgets keys no longer provisional
        # (used by an FBU, evicted, expired): RAM only, a restart forgets them all
        n = 0
        for c in list(self._lla):
            if not self.keystore.provisional(c):
                del self._lla[c]
            elif self._lla[c] == mac:
                n += 1
        return n

    def _refuse(self, mn, code, reason):
        self.report.count("keys.refused." + code)
        self.report.event(KeyRefused(mn, code, reason))
        return b""

    def verify(self, m, ip, src, now):
        """send.Verified for the RtSolPr m, or None (counted) when it does not verify."""
        s = self.settings
        try:
            return send.verify(m, src, ip.dst, now, timestamps=self._ts, solicitation=True,
                               min_bits=s.rsa_min_bits, max_bits=s.rsa_max_bits)
        except VerifyError as e:
            self.report.count("rtsolpr.unverified." + e.code)
            self.report.event(RtSolPrUnverified(src, e.code, e.args[0]))
            return None

    def request(self, m, src):
        """(AT, HKEPK) of the RtSolPr's Handover Key Request, checked before any RSA operation
        (the encryption's cost is not the sender's to choose); None when refused (counted)."""
        s = self.settings
        try:
            at, spki = m.option(ndopt.HK_REQUEST, ndopt.parse_hk_request)
            hkepk = der.parse_spki(spki)
        except ParseError as e:
            self._refuse(src, "hkepk", "handover key encryption key: %s" % e.args[0])
            return None
        try:
            rsa.check_peer_key(hkepk, s.rsa_min_bits, s.rsa_max_bits)      # the CGA key's rule
        except VerifyError as e:
            self._refuse(src, "hkepk_size" if e.code == "key_size" else "hkepk_exponent",
                         "handover key encryption key: %s" % e.args[0])
            return None
        return at, hkepk

    def reply(self, v, req, src, now, mac=None):
        """The Handover Key Reply option for the verified (v) RtSolPr whose request() was req,
        or b"" (rfc5269 3.2: no Reply and no key record touched when the request does not
        validate). mac: the link-layer source, which may hold keys_per_lla provisional keys."""
        s = self.settings
        at, hkepk = req
        if v.sec is not None and v.sec < s.min_sec:
            return self._refuse(src, "sec", "CGA Sec %d, below min_sec %d" % (v.sec, s.min_sec))
        # rfc5269 4.1: same algorithm and parameters as the CGA key; 3.1: never the CGA key itself
        if hkepk.bits != v.key.bits or hkepk == v.key:
            return self._refuse(src, "hkepk_size", "handover key encryption key of %d bits for a %d-bit CGA key"
                                % (hkepk.bits, v.key.bits))
        if at not in badf.ALGS:
            at = 1                           # unsupported: the stronger one we have
        old = self.keystore.get(src, now.s)
        owner = bytes(v.key_hash[:OWNER_LEN])
        # Sec 0 CGAs cost nothing to mint: without a cap one RSA key could fill the store
        if old is None and self.keystore.owned(owner, now.s) >= s.keys_per_pubkey:
            return self._refuse(src, "per_key", "%d live keys for its public key already" % s.keys_per_pubkey)
        if old is None and mac is not None and self._per_lla(mac) >= s.keys_per_lla:
            return self._refuse(src, "per_lla", "%d provisional keys for its link-layer address already"
                                % s.keys_per_lla)
        # the existing key if its AT is the one asked or stronger (3.2), else a new one for that AT;
        # only ever to the public key it was issued to
        evicted = self.keystore.evicted
        try:
            rec = self.keystore.issue(src, at, now.s, owner)
        except VerifyError as e:
            return self._refuse(src, e.code, e.args[0])
        if rec is None:
            return self._refuse(src, "full", "key store full of keys FBUs have used")
        if self.keystore.evicted != evicted:
            self.report.count("keys.evicted")         # the oldest provisional key made room
        if mac is not None and old is None:
            self._lla[src] = bytes(mac)
        reused = old is not None and rec[0] == old[0]
        key, at, expiry = rec
        try:
            enc = rsa.encrypt(hkepk, key)
        except CryptoError as e:
            return self._refuse(src, "encrypt", e.args[0])
        life = min(max(expiry - now.s, 1), 65535)
        self.report.count("keys.reused" if reused else "keys.issued")
        self.report.event(KeyIssued(src, at, life, reused))
        return ndopt.hk_reply(at, life, enc)
