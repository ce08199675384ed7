# The fast binding update (rfc5568 6.2.2, 6.2.3; rfc5269 3.4): an FBU from the previous
# care-of CGA to the PAR, authenticated with its handover key, resent until an FBack with
# a valid BADF answers; the sequence number resynchronised when the PAR holds a newer one.
from fmipkey import badf
from fmipkey.compat import const
from fmipkey.engine import Retx
from fmipkey.mn.discovery import rand16
from fmipkey.wire import mh

FBU_TIMEOUT = const(1000)    # ms; rfc3775 INITIAL_BINDACK_TIMEOUT, doubled per retransmission
FBU_LIFETIME = const(300)    # binding lifetime the FBU asks for, s
_RESYNC = (0x8000, 0x4000, 0xC000)  # FBU sequence offsets tried after a refusal (see fback)


class _Pending:
    """The FBU sent and not answered yet: what its FBack is checked against, and its timer."""

    def __init__(self, seq, par, ncoa, hk, retx):
        self.seq = seq
        self.par = par
        self.ncoa = ncoa
        self.hk = hk                 # the HandoverKey it is authenticated with
        self.retx = retx


class FbuSender:
    def __init__(self, node):
        self.node = node
        self.pending = None
        self.seq = rand16()
        self._resync = 0             # sequence resynchronisations tried for the current FBU

    def stop(self):
        self.pending = None

    def send(self, par, ncoa, hk, now):
        """A new FBU to the PAR with the next sequence number."""
        self._resync = 0
        self.seq = (self.seq + 1) & 0xFFFF
        return self._send(par, ncoa, hk, now)

    def _send(self, par, ncoa, hk, now):
        m, off = mh.Fbu.emit(self.seq, FBU_LIFETIME, alt_coa=ncoa, auth_len=badf.auth_len(hk.at))
        badf.sign(hk.key, hk.at, m, off, ncoa, par)
        pkt = mh.packet(self.node.addr, par, m, home=self.node.addr, hlim=255)
        self.pending = _Pending(self.seq, par, ncoa, hk, Retx(pkt, now, FBU_TIMEOUT, self.node.settings.fbu_retries))
        self.node.report.count("sent.fbu")
        return [pkt]

    def fback(self, buf, now):
        """An IPv6 packet with a Mobility Header: (FBack, the _Pending FBU it answers, []) for a
        final answer, else (None, None, packets to send)."""
        r = self.node.report
        p = self.pending
        if p is None:
            return None, None, r.drop("unexpected")
        ip, home, m = mh.parse_packet(buf)
        if m.type != mh.FBACK:
            return None, None, r.drop("mh_type")
        if bytes(ip.src) != p.par:
            return None, None, r.drop("source")
        if m.seq != p.seq:
            return None, None, r.drop("sequence")
        if not mh.checksum_ok(m, ip.src, ip.dst, home):
            return None, None, r.drop("checksum")
        if not badf.verify(p.hk.key, p.hk.at, m, p.ncoa, p.par):
            return None, None, r.drop("badf")
        self.pending = None
        if m.status == 128 and self._resync < len(_RESYNC):
            # The PAR keeps the last sequence number it accepted with the key, across our
            # restarts: move ours to another part of the 16-bit space (rfc3775 9.5.1 compares
            # modulo 2^16); these three offsets from the refused number reach "newer" whatever
            # the PAR holds. The FBack carried a valid BADF, so only the PAR can trigger this.
            self.seq = (self.seq - (_RESYNC[self._resync - 1] if self._resync else 0) + _RESYNC[self._resync]) & 0xFFFF
            self._resync += 1
            r.count("fbu.resync")
            return None, None, self._send(p.par, p.ncoa, p.hk, now)
        return m, p, []

    def tick(self, now):
        """The FBU retransmission due: packets, or None when it gave up."""
        p = self.pending
        return [] if p is None else p.retx.resend(now, self.node.report, "fbu")
