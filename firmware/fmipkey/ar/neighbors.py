# The PrRtAdv's neighbourhood answers (rfc5568 6.1.2, 6.4.3): which options describe the
# access points an RtSolPr asks about, from the configured neighbouring access routers.
from fmipkey.compat import const
from fmipkey.wire import ndopt

MAX_APS = const(4)        # AP tuples per PrRtAdv: keeps a signed RSA-2048 answer under 1280 octets
NAR_ADDR = const(3)       # IP Address option codes (rfc5568 6.4.1): the NAR's address, its prefix
NAR_PREFIX = const(4)


class Neighborhood:
    def __init__(self, neighbors, prefix):
        """neighbors: config.Neighbor records; prefix: our own /64 (8 octets)."""
        self.neighbors = neighbors
        self.prefix = prefix

    def answer(self, aps):
        """(PrRtAdv Code, options) for the requested [(LLA code, AP id)]: a known NAR gets its
        tuple (Option-Code 1), an AP of our own prefix Option-Code 5, an unknown AP Option-Code 6,
        a neighbour configured "fmip": false Option-Code 7; Code 0 all resolved, 2 none, 3 some.
        A wildcard lists the whole neighbourhood."""
        if aps[0][0] == ndopt.LLA_WILDCARD and self.neighbors:
            aps = [(ndopt.LLA_NEW_AP, n.ap_id) for n in self.neighbors]
        opts = []
        resolved = 0
        for _, ap in aps[:MAX_APS]:
            n = self.find(ap)
            if n is None:
                opts.append(ndopt.fmip_lla(ndopt.LLA_NO_PREFIX, ap))
            elif not n.fmip:
                opts.append(ndopt.fmip_lla(ndopt.LLA_NO_FMIP, ap))
            elif n.nar_prefix == self.prefix:
                opts.append(ndopt.fmip_lla(ndopt.LLA_SAME_ROUTER, ap))
            else:
                resolved += 1
                opts.append(ndopt.fmip_lla(ndopt.LLA_NEW_AP, ap) + ndopt.fmip_lla(ndopt.LLA_NAR, n.nar_lla)
                            + ndopt.ip_addr(NAR_ADDR, 128, n.nar_addr)
                            + ndopt.ip_addr(NAR_PREFIX, 64, n.nar_prefix + bytes(8)))
        n = len(opts)
        return (0 if resolved == n else 2 if resolved == 0 else 3), b"".join(opts)

    def find(self, ap):
        """The neighbour of AP id `ap` (an LLA field: padding after the address), or None."""
        for n in self.neighbors:
            k = len(n.ap_id)
            if bytes(ap[:k]) == n.ap_id and not any(ap[k:]):
                return n
        return None
