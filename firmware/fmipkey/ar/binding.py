# FBU in, FBack out (rfc5568 6.2.2, 6.2.3, 6.4.5; rfc5269 3.5): the BADF checked with the
# PCoA's handover key before any forwarding state changes, and the binding table.
from fmipkey import badf
from fmipkey.compat import const
from fmipkey.events import FbuAccepted, FbuRefused
from fmipkey.wire import mh

# FBack Status (rfc5568 6.2.3) per reason an FBU is refused
ACCEPTED = const(0)
UNSPECIFIED_REASON = const(128)   # sequence number not newer than the last accepted one
PROHIBITED = const(129)           # not authorized: no/expired key, no BADF, bad SPI or MAC
NO_RESOURCES = const(130)         # binding table full


class Binding:
    """Forwarding for a PCoA: to `ncoa` until `expiry`."""

    def __init__(self, ncoa, expiry):
        self.ncoa = ncoa
        self.expiry = expiry


class Binder:
    def __init__(self, addr, keystore, max_bindings, report):
        self.addr = addr
        self.keystore = keystore
        self.max_bindings = max_bindings
        self.report = report
        self.bindings = {}            # PCoA -> Binding; FBU sequence numbers live in the keystore

    def expire(self, now):
        for p in [p for p in self.bindings if self.bindings[p].expiry <= now.s]:
            del self.bindings[p]

    def fbu(self, ip, home, m, now):
        """An FBU to us (MH checksum checked) -> [FBack]."""
        self.report.count("fbu")
        src = bytes(ip.src)
        if home is None:
            return self._refuse(src, m, None, None, None, PROHIBITED, "no_home", "no Home Address option")
        pcoa = bytes(home)
        ncoa = bytes(m.alt_coa) if m.alt_coa is not None else src
        # rfc5269 3.5: the key is found by the care-of CGA in the Home Address option
        rec = self.keystore.get(pcoa, now.s)
        if rec is None:
            return self._refuse(src, m, pcoa, None, ncoa, PROHIBITED, "no_key", "no live handover key")
        key, at, kexp = rec
        if not badf.verify(key, at, m, ncoa, self.addr):
            # Unauthenticated answer: a BADF made here would let anyone with the victim's PCoA
            # and next sequence number collect a genuine refusal to play to the MN later.
            return self._refuse(src, m, pcoa, None, ncoa, PROHIBITED, "badf", "BADF missing or wrong")
        # The last accepted sequence number is kept with the key (sealed, saved before the
        # FBack leaves), so a replayed FBU is refused after a deregistration, an expired
        # binding or a restart: the BADF binds every FBU to that key. An exact copy of the
        # last accepted FBU is refused too: a retransmission carries a greater number
        # (rfc3775 11.8), so a copy is a replay, whatever it would change.
        last = self.keystore.last_seq(pcoa)
        if last is not None:
            d = (m.seq - last) & 0xFFFF
            if d == 0 or d >= 0x8000:                                         # rfc3775 9.5.1
                return self._refuse(src, m, pcoa, rec, ncoa, UNSPECIFIED_REASON, "seq",
                                    "sequence number %d not newer than %d" % (m.seq, last))
        b = self.bindings.get(pcoa)
        if b is not None and b.expiry <= now.s:
            b = None
        expiry = min(now.s + m.lifetime, kexp)   # forwarding ends with the key (rfc5269 3.6)
        if m.lifetime == 0:
            self.bindings.pop(pcoa, None)
        else:
            if b is None and len(self.bindings) >= self.max_bindings:
                self.expire(now)
                if len(self.bindings) >= self.max_bindings:
                    return self._refuse(src, m, pcoa, rec, ncoa, NO_RESOURCES, "full", "binding table full")
            self.bindings[pcoa] = Binding(ncoa, expiry)
        self.keystore.accept_seq(pcoa, m.seq)
        life = expiry - now.s
        self.report.count("fbu.accepted")
        self.report.event(FbuAccepted(pcoa, ncoa, life))
        return [self._fback(src, m, rec, ncoa, ACCEPTED, life)]

    def _refuse(self, dst, m, pcoa, rec, ncoa, status, code, reason):
        # No state changes. The FBack carries a BADF (rec given) only once the FBU's own verified.
        self.report.count("fbu.rejected." + code)
        self.report.event(FbuRefused(pcoa, status, code, reason))
        return [self._fback(dst, m, rec, ncoa, status, 0)]

    def _fback(self, dst, m, rec, ncoa, status, lifetime):
        # Sent where the FBU came from: the PCoA on our link, or the NCoA (rfc5568 6.2.3).
        if rec is None:
            fb, off = mh.Fback.emit(status, m.seq, lifetime, auth_len=0)
        else:
            key, at, _ = rec
            fb, off = mh.Fback.emit(status, m.seq, lifetime, auth_len=badf.auth_len(at))
            badf.sign(key, at, fb, off, ncoa, self.addr)
        self.report.count("fback")
        return mh.packet(self.addr, dst, fb, hlim=255)
