# The fast binding update (rfc5568 6.2.2, 6.2.3; rfc5269 3.4): an FBU from the previous
# care-of CGA to the PAR, authenticated with its handover key, resent until an FBack with
# a valid BADF answers, each transmission with the next sequence number; the number
# resynchronised when the PAR holds a newer one.
from fmipkey import badf
from fmipkey.compat import const
from fmipkey.engine import Retx
from fmipkey.mn.discovery import rand16
from fmipkey.wire import mh

FBU_TIMEOUT = const(1000)    # ms; rfc3775 INITIAL_BINDACK_TIMEOUT, doubled per retransmission
FBU_LIFETIME = const(300)    # binding lifetime the FBU asks for, s
_RESYNC = (0x8000, 0x4000, 0xC000)  # FBU sequence offsets tried after a refusal (see fback)


class _Pending:
    """The FBU exchange not answered yet: what its FBack is checked against, and its timer.
    Its transmissions are numbered `first` up to the sender's `seq`, one more per send."""

    def __init__(self, first, par, ncoa, hk, retx):
        self.first = first
        self.par = par
        self.ncoa = ncoa
        self.hk = hk                 # the HandoverKey it is authenticated with
        self.retx = retx


class FbuSender:
    def __init__(self, node):
        self.node = node
        self.pending = None
        self.seq = rand16()          # the last sequence number sent
        self._resync = 0             # sequence resynchronisations tried for the current FBU
        self._base = 0               # the number whose refusal started them

    def stop(self):
        self.pending = None

    def send(self, par, ncoa, hk, now):
        """A new FBU to the PAR with the next sequence number."""
        self._resync = 0
        return self._start(par, ncoa, hk, (self.seq + 1) & 0xFFFF, now)

    def _start(self, par, ncoa, hk, seq, now):
        self.seq = seq
        self.pending = _Pending(seq, par, ncoa, hk, Retx(None, now, FBU_TIMEOUT, self.node.settings.fbu_retries))
        self.node.report.count("sent.fbu")
        return self._emit()

    def _emit(self):
        # Built at each send with the current number and its own BADF: a retransmitted
        # Binding Update MUST carry a greater number (rfc3775 11.8), and the PAR refuses
        # one not newer than the last it accepted, an exact copy included.
        p = self.pending
        m, off = mh.Fbu.emit(self.seq, FBU_LIFETIME, alt_coa=p.ncoa, auth_len=badf.auth_len(p.hk.at))
        badf.sign(p.hk.key, p.hk.at, m, off, p.ncoa, p.par)
        return [mh.packet(self.node.addr, p.par, m, home=self.node.addr, hlim=255)]

    def fback(self, buf, now):
        """An IPv6 packet with a Mobility Header: (FBack, the _Pending FBU it answers, []) for a
        final answer, else (None, None, packets to send). An acceptance of any transmission of
        the exchange is final (an earlier one's FBack may arrive late: the PAR did bind); a
        refusal only of the latest one, since the PAR may still accept a later transmission."""
        r = self.node.report
        p = self.pending
        if p is None:
            return None, None, r.drop("unexpected")
        ip, home, m = mh.parse_packet(buf)
        if m.type != mh.FBACK:
            return None, None, r.drop("mh_type")
        if bytes(ip.src) != p.par:
            return None, None, r.drop("source")
        if (m.seq - p.first) & 0xFFFF > (self.seq - p.first) & 0xFFFF:
            return None, None, r.drop("sequence")
        if not mh.checksum_ok(m, ip.src, ip.dst, home):
            return None, None, r.drop("checksum")
        if not badf.verify(p.hk.key, p.hk.at, m, p.ncoa, p.par):
            return None, None, r.drop("badf")
        if m.status >= 128 and m.seq != self.seq:
            return None, None, r.drop("superseded")
        self.pending = None
        if m.status == 128 and self._resync < len(_RESYNC):
            # The PAR keeps the last sequence number it accepted with the key, across our
            # restarts: move ours to another part of the 16-bit space (rfc3775 9.5.1 compares
            # modulo 2^16); these three offsets from the first refused number reach "newer"
            # whatever the PAR holds. The FBack carried a valid BADF: only the PAR triggers this.
            if not self._resync:
                self._base = m.seq
            self._resync += 1
            r.count("fbu.resync")
            return None, None, self._start(p.par, p.ncoa, p.hk, (self._base + _RESYNC[self._resync - 1]) & 0xFFFF, now)
        return m, p, []

    def tick(self, now):
        """The FBU retransmission due, with the next sequence number: packets, or None when
        it gave up."""
        p = self.pending
        if p is None:
            return []
        d = p.retx.check(now)
        if d == Retx.GIVE_UP:
            return None
        if not d:
            return []
        self.node.report.count("resent.fbu")
        self.seq = (self.seq + 1) & 0xFFFF
        return self._emit()
