# The ESP32 link driver: raw IPv6 on lwIP through the fmipkey_hw C module
# (boards/esp32/cmodules), the same interface as net/linux.py. MicroPython's
# esp32 socket module speaks IPv4 only and the soft-AP has no IPv6 address,
# so the module installs the node's link-local CGA, joins ff02::2 and hands
# over the SEND/FMIPv6 ICMPv6 types and Mobility Headers; lwIP keeps doing
# ND (it answers Neighbor Solicitations for the CGA) and resolves the
# next hop of what we send, so no MAC is chosen here.
from fmipkey import config
from fmipkey.crypto import cga
from fmipkey.errors import ConfigError
from fmipkey.net import nd_hop_limit_ok


class Link:
    """One interface ("ap": the soft-AP, "sta") carrying the CGA `addr`; an AR
    gives the /64 it serves as `prefix` (8 bytes) so lwIP takes the MNs' CGAs
    on it as on-link. recv() -> (ipv6_packet, src_mac) or None; send(packet, dst_mac=None)."""

    def __init__(self, ifname, addr, prefix=None):
        import fmipkey_hw  # only in the ESP32 image
        self.ifname = ifname
        try:
            self.raw = fmipkey_hw.RawIP6(ifname, bytes(addr), prefix)
        except OSError as e:
            raise ConfigError("cannot open raw IPv6 on %s (%s): is the %s interface up?" % (ifname, e, ifname))
        self.mac = self.raw.mac()
        self.counters = {"dropped.hop_limit": 0, "dropped.malformed": 0, "dropped.ring_full": 0,
                         "dropped.too_big": 0, "errors.lwip_send": 0}

    def fileno(self):
        # select.poll takes the module's object: readable while its ring holds a packet
        return self.raw

    def recv(self):
        """Next packet the module queued, or None. lwIP checked the IPv6
        header; drops ND messages whose hop limit is not 255, as linux.py."""
        while True:
            r = self.raw.recv()
            if r is None:
                self._stats()
                return None
            packet = r[0]
            if len(packet) < 40:
                self.counters["dropped.malformed"] += 1
                continue
            if not nd_hop_limit_ok(packet):
                self.counters["dropped.hop_limit"] += 1
                continue
            return packet, r[1]

    def _stats(self):
        # the ring's drops happen in the tcpip task: copy the module's counts
        s = self.raw.stats()
        self.counters["dropped.ring_full"] = s[1]
        self.counters["dropped.too_big"] = s[2]
        self.counters["errors.lwip_send"] = s[4]

    def send(self, packet, dst_mac=None):
        """Send a whole IPv6 packet; dst_mac is ignored: lwIP's neighbour cache,
        filled by ND, picks the next hop. OSError when lwIP refuses it."""
        self.raw.send(packet)

    def close(self):
        self.raw.close()


def link_for(bundle, cfg):
    """The Link a bundle's daemon runs on: its configured interface, its CGA
    (from the CGA Parameters; the daemon checks them against the key) and,
    for an AR, the prefix it serves."""
    try:
        with open(bundle + "/" + cfg["cga_file"], "rb") as f:
            addr = cga.address(f.read(), cfg["cga_sec"])
    except OSError:
        raise ConfigError("%s/%s: missing; provision the bundle again (fmipkey provision)" % (bundle, cfg["cga_file"]))
    prefix = config.parse_prefix(cfg["prefix"]) if cfg["role"] == "ar" else None
    return Link(cfg["interface"], addr, prefix)
