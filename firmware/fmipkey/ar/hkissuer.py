# The handover key issuer (rfc5269 3.2, 3.6): the Handover Key Reply for a SEND-verified
# request, with the MN's key (new or reused) encrypted under its HKEPK.
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

    def _refuse(self, mn, code, reason):
        self.report.count("keys.refused." + code)
        self.report.event(KeyRefused(mn, code, reason))
        return b""

    def reply(self, m, ip, src, now):
        """The Handover Key Reply option for the RtSolPr m (which carries a HK Request), or b""
        (rfc5269 3.2: no Reply and no key record touched when the RtSolPr does not validate)."""
        s = self.settings
        try:
            at, spki = m.option(ndopt.HK_REQUEST, ndopt.parse_hk_request)
            hkepk = der.parse_spki(spki)
        except ParseError as e:
            return self._refuse(src, "hkepk", "handover key encryption key: %s" % e.args[0])
        try:
            # the CGA key's rule, before any RSA: the encryption's cost is not the sender's to choose
            rsa.check_peer_key(hkepk, s.rsa_min_bits, s.rsa_max_bits)
        except VerifyError as e:
            return self._refuse(src, "hkepk_size" if e.code == "key_size" else "hkepk_exponent",
                                "handover key encryption key: %s" % e.args[0])
        try:
            v = send.verify(m, src, ip.dst, now, timestamps=self._ts, solicitation=True,
                            min_bits=s.rsa_min_bits, max_bits=s.rsa_max_bits)
        except VerifyError as e:
            self.report.count("rtsolpr.unverified." + e.code)
            self.report.event(RtSolPrUnverified(src, e.code, e.args[0]))
            return b""
        # rfc5269 4.1: same algorithm and parameters as the CGA key; 3.1: never the CGA key itself
        if hkepk.bits != v.key.bits or hkepk == v.key:
            return self._refuse(src, "hkepk_size", "handover key encryption key of %d bits for a %d-bit CGA key"
                                % (hkepk.bits, v.key.bits))
        if at not in badf.ALGS:
            at = 1                           # unsupported: the stronger one we have
        old = self.keystore.get(src, now)
        owner = bytes(v.key_hash[:OWNER_LEN])
        # Sec 0 CGAs cost nothing to mint: without a cap one RSA key could fill the store
        if old is None and self.keystore.owned(owner, now) >= s.keys_per_pubkey:
            return self._refuse(src, "per_key", "%d live keys for its public key already" % s.keys_per_pubkey)
        # the existing key if its AT is the one asked or stronger (3.2), else a new one for that AT;
        # only ever to the public key it was issued to
        try:
            rec = self.keystore.issue(src, at, now, owner)
        except VerifyError as e:
            return self._refuse(src, e.code, e.args[0])
        if rec is None:
            return self._refuse(src, "full", "key store full")
        reused = old is not None and rec[0] == old[0]
        key, at, expiry = rec
        try:
            enc = rsa.encrypt(hkepk, key)
        except CryptoError as e:
            return self._refuse(src, "encrypt", e.args[0])
        life = min(max(expiry - int(now), 1), 65535)
        self.report.count("keys.reused" if reused else "keys.issued")
        self.report.event(KeyIssued(src, at, life, reused))
        return ndopt.hk_reply(at, life, enc)
