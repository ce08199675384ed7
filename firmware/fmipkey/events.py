# The typed events the engines report (engine.Report.events) and the daemon reacts to and
# logs: `name` is the log line's event word, describe(fa) its text (fa formats an address).


class Event:
    name = "event"

    def describe(self, fa):
        return ""


class KeyIssued(Event):
    """AR: a Handover Key Reply carries the MN's key: a new one, or the live one `reused`."""

    def __init__(self, mn, at, lifetime, reused):
        self.mn = mn
        self.at = at
        self.lifetime = lifetime
        self.reused = reused

    @property
    def name(self):
        return "hk-reused" if self.reused else "hk-issued"

    def describe(self, fa):
        return "%s AT %d, %d s" % (fa(self.mn), self.at, self.lifetime)


class _Refusal(Event):
    # who (an address), a short stable code and a reason for people
    def __init__(self, who, code, reason):
        self.who = who
        self.code = code
        self.reason = reason

    def describe(self, fa):
        return "%s: %s" % (fa(self.who), self.reason)


class KeyRefused(_Refusal):
    """AR: a verified request got no key (codes hkepk, hkepk_size, per_key, full, encrypt)."""
    name = "hk-refused"


class RtSolPrUnverified(_Refusal):
    """AR: an RtSolPr with a HK Request failed SEND verification (code: the VerifyError's)."""
    name = "rtsolpr-unverified"


class CpaSent(Event):
    name = "cpa-sent"

    def __init__(self, dst, sent, total):
        self.dst = dst
        self.sent = sent
        self.total = total

    def describe(self, fa):
        return "%d of %d certificates to %s" % (self.sent, self.total, fa(self.dst))


class FbuAccepted(Event):
    """AR: a binding PCoA -> NCoA set for `lifetime` s. MN: the PAR accepted our FBU."""
    name = "fbu-accepted"

    def __init__(self, pcoa, ncoa, lifetime):
        self.pcoa = pcoa
        self.ncoa = ncoa
        self.lifetime = lifetime

    def describe(self, fa):
        return "%s -> %s for %d s" % (fa(self.pcoa), fa(self.ncoa), self.lifetime)


class FbuRefused(Event):
    """AR: an FBU refused with FBack `status` (codes no_home, no_key, badf, seq, full; pcoa
    None without a Home Address option). MN: the PAR refused our FBU (code status; final)."""
    name = "fbu-rejected"

    def __init__(self, pcoa, status, code, reason):
        self.pcoa = pcoa
        self.status = status
        self.code = code
        self.reason = reason

    def describe(self, fa):
        return self.reason if self.pcoa is None else "%s: %s" % (fa(self.pcoa), self.reason)


class PathValidated(Event):
    """MN: a certification path from `router` validated; its key is certified."""
    name = "path-valid"

    def __init__(self, router, issuer):
        self.router = router
        self.issuer = issuer

    def describe(self, fa):
        return "router key from %s certified by %s" % (fa(self.router), self.issuer)


class PathInvalid(Event):
    name = "path-invalid"

    def __init__(self, router, reason):
        self.router = router
        self.reason = reason

    def describe(self, fa):
        return "router %s: %s" % (fa(self.router), self.reason)


class NoPath(Event):
    """MN: a CPA with no components: the router has no path to our trust anchors."""
    name = "cpa-no-path"

    def __init__(self, router):
        self.router = router

    def describe(self, fa):
        return "router %s has no path to our trust anchors" % fa(self.router)


class PrRtAdvRejected(Event):
    name = "prrtadv-rejected"

    def __init__(self, code, reason):
        self.code = code
        self.reason = reason

    def describe(self, fa):
        return self.reason


class KeyReceived(Event):
    """MN: a handover key from `router` for our CGA `mn`, valid until `expiry`."""
    name = "key"

    def __init__(self, router, mn, key, at, lifetime, expiry):
        self.router = router
        self.mn = mn
        self.key = key
        self.at = at
        self.lifetime = lifetime
        self.expiry = expiry

    def describe(self, fa):
        return "AT %d, %d s from %s" % (self.at, self.lifetime, fa(self.router))


class HkepkRetired(Event):
    name = "hkepk-retired"

    def describe(self, fa):
        return "handover key encryption key pair replaced"


class RefreshFailed(Event):
    """MN: no answer to a new key request while the old key lives on."""
    name = "rtsolpr-timeout"

    def describe(self, fa):
        return "no new handover key from the router"


class Failed(Event):
    """MN: the exchange ended without success; `name` says where (cps-timeout,
    rtsolpr-timeout, hkepk-exhausted, fbu-no-key, fbu-timeout); `who` the address concerned."""

    def __init__(self, name, reason, who=None):
        self.name = name
        self.reason = reason
        self.who = who

    def describe(self, fa):
        return self.reason if self.who is None else "%s: %s" % (fa(self.who), self.reason)
