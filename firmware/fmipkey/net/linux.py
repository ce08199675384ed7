# The Linux link driver (MicroPython unix port on OpenWrt, and CPython on the
# host): whole Ethernet frames on an AF_PACKET socket. Reading whole IPv6
# packets gives the engines the source/destination addresses the SEND
# signature covers and the hop limit ND needs; writing whole frames lets us
# send with hop limit 255 from any (CGA) source address. No ffi, no netlink:
# the interface's addresses are configured outside (`ip -6 addr add ... nodad`).
import socket
import struct
import sys
import time

from fmipkey.compat import const
from fmipkey.errors import ConfigError
from fmipkey.net import multicast_mac, nd_hop_limit_ok, solicited_node_mac

_AF_PACKET = const(17)
_ETH_P_IPV6 = const(0x86DD)
_SOL_PACKET = const(263)
_PACKET_ADD_MEMBERSHIP = const(1)
_PACKET_MR_ALLMULTI = const(2)
_EAGAIN = const(11)
_ETH_HLEN = const(14)

_CPYTHON = sys.implementation.name == "cpython"
_SO_ATTACH_FILTER = const(26)
BLOCK_S = const(60)       # s a flooding MAC stays blocked
MAX_BLOCKED = const(8)    # MACs blocked at once (each adds 4 filter instructions)
MAX_TALLY = const(256)    # MACs counted per second
# classic BPF over the Ethernet frame: load octet/half-word at k, jump if A == k, return k
_LDB, _LDH, _LDW, _JEQ, _RET = 0x30, 0x28, 0x20, 0x15, 0x06
_NH_MH, _NH_DSTOPTS, _NH_ICMPV6 = 135, 60, 58


def _sysfs(ifname, name):
    try:
        with open("/sys/class/net/%s/%s" % (ifname, name)) as f:
            return f.read().strip()
    except OSError:
        raise ConfigError("no network interface %s" % ifname)


class Link:
    """One interface. recv() -> (ipv6_packet, src_mac) or None; send(packet, dst_mac=None)."""

    def __init__(self, ifname):
        self.ifname = ifname
        self.ifindex = int(_sysfs(ifname, "ifindex"))
        self.mac = bytes(int(x, 16) for x in _sysfs(ifname, "address").split(":"))
        self.mtu = int(_sysfs(ifname, "mtu"))
        self.counters = {"dropped.hop_limit": 0, "dropped.malformed": 0}
        # htons(): the protocol is in network order inside the kernel
        proto = struct.unpack("@H", struct.pack(">H", _ETH_P_IPV6))[0]
        self.sock = socket.socket(_AF_PACKET, socket.SOCK_RAW, proto)
        if _CPYTHON:
            self.sock.bind((ifname, _ETH_P_IPV6))
        else:  # MicroPython takes a raw struct sockaddr_ll
            self.sock.bind(struct.pack("@H", _AF_PACKET) + struct.pack(">H", _ETH_P_IPV6)
                           + struct.pack("@iHBB8s", self.ifindex, 0, 0, 0, b""))
        # all multicast: all-routers and the CGAs' solicited-node groups the
        # kernel has not joined (struct packet_mreq)
        self.sock.setsockopt(_SOL_PACKET, _PACKET_ADD_MEMBERSHIP,
                             struct.pack("@iHH8s", self.ifindex, _PACKET_MR_ALLMULTI, 0, b""))
        self.sock.setblocking(False)
        self._flood_pps = 0       # guard() sets it
        self._seen = {}           # MAC -> frames this tenth of a second
        self._slot = 0
        self._blocked = {}        # MAC -> when its block ends

    def guard(self, icmp_types, flood_pps, mh_types=None):
        """The kernel filter for `icmp_types` (accept_only), and a MAC that sends more than
        `flood_pps` frames a second (a tenth of that in a tenth of a second: at 150k frames/s
        the socket overflows within a millisecond, and the legitimate frames with it, until
        the block is in) blocked in it for BLOCK_S (at most MAX_BLOCKED at once;
        counted in link.flood_blocked; 0: none): past some rate the daemon cannot even read a
        flood, and frames it cannot read crowd out the ones it must."""
        self._types = tuple(icmp_types)
        self._mh = mh_types
        self._flood_pps = flood_pps
        self.counters["link.flood_blocked"] = 0
        self.accept_only(self._types, mh_types=mh_types)

    def _tally(self, mac):
        slot = time.time_ns() // 100000000     # tenths of a second, integer (unix port, CPython)
        sec = slot // 10
        if slot != self._slot:
            self._slot = slot
            self._seen = {}
            expired = [m for m in self._blocked if self._blocked[m] <= sec]
            for m in expired:
                del self._blocked[m]
            if expired:
                self.accept_only(self._types, list(self._blocked), self._mh)
        n = self._seen.get(mac, 0) + 1
        if n * 10 > self._flood_pps and mac not in self._blocked and len(self._blocked) < MAX_BLOCKED:
            self._blocked[mac] = sec + BLOCK_S
            self.counters["link.flood_blocked"] += 1
            self.accept_only(self._types, list(self._blocked), self._mh)
        elif len(self._seen) < MAX_TALLY or mac in self._seen:
            self._seen[mac] = n

    def accept_only(self, icmp_types, blocked=(), mh_types=None):
        """Have the kernel pass on only what the engine reads: ICMPv6 of `icmp_types` and
        Mobility Header packets (with `mh_types`: only those MH Types, not behind a
        Destination Options header), from any MAC but those in `blocked` (a flooding source).
        A type given as (type, subtype) passes only with that octet 4 (the FMIPv6 Subtype:
        RtSolPr and PrRtAdv share type 154, and an MN must not read an RtSolPr flood).
        Frames filtered out never cost the daemon a wake-up (a flood of Router
        Advertisements or Neighbor Solicitations no longer competes with an RtSolPr)."""
        subs = [t for t in icmp_types if isinstance(t, tuple)]
        n = len(icmp_types)
        mh = len(mh_types) + 1 if mh_types else 0          # the MH Type checks' length
        head = 4 if mh else 5       # LDB next header, JEQ MH, (JEQ Destination Options,) JEQ ICMPv6, LDB type
        drop = 4 * len(blocked) + head + n + 1 + 2 * len(subs) + mh    # "return 0"; "return all" follows
        accept = drop + 1
        prog = []

        def jeq(k, yes, no=None):   # targets as indices; classic BPF counts from the next one, forward only
            pc = len(prog)
            prog.append((_JEQ, yes - pc - 1 if yes else 0, no - pc - 1 if no else 0, k))

        for mac in blocked:     # A = octets 6-9 of the frame, then 10-11: the source MAC
            prog.append((_LDW, 0, 0, 6))
            jeq(int.from_bytes(mac[:4], "big"), None, len(prog) + 3)
            prog.append((_LDH, 0, 0, 10))
            jeq(int.from_bytes(mac[4:], "big"), drop)
        prog.append((_LDB, 0, 0, 20))
        jeq(_NH_MH, drop - mh if mh else accept)
        if not mh:
            jeq(_NH_DSTOPTS, accept)
        jeq(_NH_ICMPV6, None, drop)
        prog.append((_LDB, 0, 0, _ETH_HLEN + 40))
        sub = len(prog) + n + 1      # where the first subtype check starts
        for t in icmp_types:
            if isinstance(t, tuple):
                jeq(t[0], sub)
                sub += 2
            else:
                jeq(t, accept)
        prog.append((_RET, 0, 0, 0))
        for t in subs:          # A = the ICMPv6 message's octet 4
            prog.append((_LDB, 0, 0, _ETH_HLEN + 44))
            jeq(t[1], accept, drop)
        if mh:                  # A = the Mobility Header's MH Type
            prog.append((_LDB, 0, 0, _ETH_HLEN + 42))
            for t in mh_types:
                jeq(t, accept)
        prog += [(_RET, 0, 0, 0), (_RET, 0, 0, 0xFFFF)]
        code = b"".join(struct.pack("@HBBI", *ins) for ins in prog)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, struct.pack("@HP", len(prog), _address(code)))

    def fileno(self):
        return self.sock.fileno()

    def recv(self):
        """Next IPv6 packet on the link as (packet, src_mac), or None when none is
        waiting. Drops (and counts) frames too short or truncated and ND
        messages whose hop limit is not 255. Our own transmissions never show
        up: the kernel copies outgoing frames only to ETH_P_ALL sockets."""
        while True:
            try:
                frame = self.sock.recv(_ETH_HLEN + self.mtu)
            except OSError as e:
                if e.errno == _EAGAIN:
                    return None
                raise
            if self._flood_pps:
                self._tally(bytes(frame[6:12]))
            if len(frame) < _ETH_HLEN + 40 or frame[_ETH_HLEN] >> 4 != 6:
                self.counters["dropped.malformed"] += 1
                continue
            end = _ETH_HLEN + 40 + (frame[_ETH_HLEN + 4] << 8 | frame[_ETH_HLEN + 5])
            if end > len(frame):
                self.counters["dropped.malformed"] += 1
                continue
            packet = frame[_ETH_HLEN:end]  # cuts Ethernet padding of short frames
            if not nd_hop_limit_ok(packet):
                self.counters["dropped.hop_limit"] += 1
                continue
            return packet, frame[6:12]

    def send(self, packet, dst_mac=None):
        """Send a whole IPv6 packet as given (the engines set hop limit 255).
        Without dst_mac: the multicast mapping for a multicast destination, else
        the destination's solicited-node group, which its owner listens to (no
        NS/NA round trip is needed). No IPv6 -> MAC table is learnt from
        received frames: their source addresses are unverified, and one forged
        frame would redirect later packets; the daemon passes the MAC of the
        frame a packet answers."""
        if dst_mac is None:
            dst = bytes(packet[24:40])
            dst_mac = multicast_mac(dst) if dst[0] == 0xFF else solicited_node_mac(dst)
        self.sock.send(dst_mac + self.mac + b"\x86\xdd" + packet)

    def close(self):
        self.sock.close()


def _address(buf):
    """The address of a bytes object's data, for a struct sock_fprog."""
    if _CPYTHON:
        import ctypes
        return ctypes.cast(ctypes.c_char_p(buf), ctypes.c_void_p).value
    import uctypes
    return uctypes.addressof(buf)
