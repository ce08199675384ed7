"""fmipkey_hw's rawip6 core on Debian's lwIP (2.1.3 with its unix port's
sys_arch and tcpip thread): the raw-API path an ESP32 access point runs.
c/lwip_relay.c runs lwIP on a TAP device bridged into the simulation's link
(fmipkey_tools.sim), with the core on its netif and a small netif driver of
its own (Debian's tapif overflows its pbufs). The AR daemon (lwip_ar.py:
the board's main.py, net/esp32.py on the MicroPython unix port) reaches the core through
lwiprelay.py in place of the C binding. An MN daemon (MicroPython, AF_PACKET)
completes CPS/CPA, RtSolPr/PrRtAdv and FBU/FBack with it, and lwIP still
answers Neighbor Solicitations for the AR's CGA while the PCBs are open. The
relay is built with AddressSanitizer."""
import contextlib
import os
import socket
import struct
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hwbuild

if os.geteuid() != 0:
    pytest.skip("the lwIP link test needs root for network namespaces and a TAP device", allow_module_level=True)
if shutil.which("tshark") is None or shutil.which("ip") is None:
    pytest.skip("the lwIP link test needs tshark and iproute2 (make tools)", allow_module_level=True)

from fmipkey import config  # noqa: E402
from fmipkey.crypto import cga  # noqa: E402
from fmipkey_tools import sim as simulation  # noqa: E402
from fmipkey_tools.sim import MICROPYTHON, Sim, stop, wait_for  # noqa: E402
from test_sim import read_pcap  # noqa: E402

pytestmark = pytest.mark.timeout(300)
HERE = Path(__file__).resolve().parent
BOARD = HERE.parent / "boards" / "esp32"     # its main.py runs the AR
LWIP_MAC = "02:fe:00:00:00:01"
OURS = bytes.fromhex(LWIP_MAC.replace(":", ""))
# the core opened straight on a link: its CGA, and a peer
CGA = bytes.fromhex("fe80000000000000" + "0011223344556677")
PEER, PEER_MAC = bytes.fromhex("fe80000000000000" + "0200000000000002"), bytes.fromhex("020000000002")
SEND_UDP = "import socket, sys; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b'x', (sys.argv[1], 9))"


@pytest.fixture(scope="module")
def relay_bin():
    hwbuild.need("lwip/lwip/raw.h", "liblwip-dev")
    if not Path("/dev/net/tun").exists():
        pytest.skip("no /dev/net/tun: the kernel has no TUN/TAP")
    return hwbuild.gcc("lwip_relay", [HERE / "c" / "lwip_relay.c", hwbuild.HW / "rawip6.c"],
                       ["-I/usr/include/lwip", "-llwip", "-lpthread", "-fsanitize=address"])


def addr_of(bundle):
    cfg = config.load(str(bundle / "config.json"))
    return cga.address((bundle / cfg["cga_file"]).read_bytes(), cfg["cga_sec"])


@pytest.fixture(scope="module")
def exchange(relay_bin, tmp_path_factory, request):
    """The whole exchange over lwIP; returns (sim, mn status, ping output, MN's neighbour table)."""
    out = tmp_path_factory.mktemp("lwip") / "demo"
    with Sim(out) as sim:
        ar_ns, mn_ns = sim.link.ns["ar"], sim.link.ns["mn"]
        # the board's name for its interface: the soft-AP
        cfg = (sim.dirs["ar"] / "config.json")
        cfg.write_text(cfg.read_text().replace('"br0"', '"ap"'))
        simulation.sh("ip", "-n", ar_ns, "tuntap", "add", "dev", "tap0", "mode", "tap")
        simulation.sh("ip", "-n", ar_ns, "link", "set", "tap0", "master", "br0", "up")
        # The MN's kernel owns its CGA so it answers lwIP's Neighbor Solicitations (a real MN
        # does); the daemon itself still speaks over AF_PACKET.
        mn_addr = config.format_addr(addr_of(sim.dirs["mn"]))
        sim.link.exec_(mn_ns, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.addr_gen_mode=1",
                       "net.ipv6.conf.eth0.disable_ipv6=0")
        simulation.sh("ip", "-n", mn_ns, "-6", "addr", "add", mn_addr + "/64", "dev", "eth0", "nodad")
        simulation.sh("ip", "-n", mn_ns, "-6", "route", "add", "fe80::/64", "dev", "eth0")   # no link-local of its own
        tshark = sim.capture()
        sock = str(out / "relay.sock")
        rlog = open(out / "relay.log", "w")
        relay = sim.link.spawn("ar", [relay_bin, "tap0", sock, LWIP_MAC], rlog)
        wait_for(lambda: "lwip_relay:" in (out / "relay.log").read_text() or relay.poll() is not None, 15,
                 "lwip_relay to start")
        assert relay.poll() is None, (out / "relay.log").read_text()
        alog = sim.dirs["ar"] / "daemon.log"
        sim.logs["ar"] = open(alog, "a")
        ar = sim.link.spawn("ar", [MICROPYTHON, HERE / "lwip_ar.py", sock, sim.dirs["ar"], "--export-keys"],
                            sim.logs["ar"], "%s:%s:%s" % (simulation.FIRMWARE, HERE, BOARD))
        wait_for(lambda: " start " in alog.read_text() or ar.poll() is not None, 15, "the AR to start")
        assert ar.poll() is None, alog.read_text()
        ar_addr = config.format_addr(addr_of(sim.dirs["ar"]))
        # the MN's kernel resolves the AR's CGA (Neighbor Solicitation) to send it a datagram
        ping = subprocess.run(["ip", "netns", "exec", mn_ns, sys.executable, "-c", SEND_UDP, ar_addr + "%eth0"],
                              capture_output=True, text=True, timeout=20)
        wait_for(lambda: "lladdr" in simulation.sh("ip", "-n", mn_ns, "-6", "neigh", "show", "dev", "eth0"), 5,
                 "the MN's kernel to resolve the AR's CGA")
        neigh = simulation.sh("ip", "-n", mn_ns, "-6", "neigh", "show", "dev", "eth0")
        mn = sim.daemon("mn", *sim.mn_args("mn"))
        status = {"mn": mn.wait(40)}
        sim.await_fbacks(1)
        stop(ar)
        stop(relay)
        stop(tshark)
        rlog.close()
        yield sim, status, ping, neigh, ar_addr


def test_mn_completes_the_exchange_through_lwip(exchange):
    sim, status, _, _, _ = exchange
    # report(): every message on the wire and each of inspect's checks passes, both sides hold the same key
    assert simulation.report(sim, status), (sim.dirs["ar"] / "daemon.log").read_text()


def test_lwip_answers_neighbor_solicitation_with_pcbs_open_lwip(exchange):
    _, _, udp, neigh, ar_addr = exchange
    assert udp.returncode == 0, udp.stderr
    line = [l for l in neigh.splitlines() if l.startswith(ar_addr)]
    assert line and "lladdr " + LWIP_MAC in line[0] and "REACHABLE" in line[0], neigh


def test_ar_messages_leave_through_lwip_lwip(exchange):
    """Every CPA, PrRtAdv, FBack and NA from the AR's CGA left from lwIP's MAC; the
    ND messages with hop limit 255 and a checksum (lwIP's) tshark accepts."""
    sim, _, _, _, ar_addr = exchange
    frames = read_pcap(sim.out / "exchange.pcap")
    pkts = simulation.packets(sim.out / "exchange.pcap")
    names = []
    for frame, p in zip(frames, pkts):
        name = simulation.message_name(p)
        ip = frame[14:]
        if p["ipv6.src"] != ar_addr:
            continue
        names.append(name)
        assert frame[6:12] == OURS
        if name in ("CPA", "PrRtAdv", "ICMPv6 136"):
            assert ip[7] == 255, name
            assert p["icmpv6.checksum.status"] == "1", name
    for wanted in ("CPA", "PrRtAdv", "FBack", "ICMPv6 136"):
        assert wanted in names, names


SEND_FRAMES = ("import socket, sys\n"
               "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
               "s.bind(('eth0', 0))\n"
               "data = open(sys.argv[1], 'rb').read()\n"
               "while data:\n"
               "    n = int.from_bytes(data[:2], 'big')\n"
               "    s.send(data[2:2 + n])\n"
               "    data = data[2 + n:]\n")


class Relay:
    """The relay's request/reply protocol (c/lwip_relay.c) from this process."""

    def __init__(self, path, me):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(str(me))
        self.s.settimeout(5)

    def call(self, req):
        self.s.sendto(req, self.path)
        return self.s.recv(4096)

    def stats(self):
        return struct.unpack("<5I", self.call(b"T")[5:])

    def pending(self):
        return struct.unpack("<i", self.call(b"L")[1:5])[0]


@contextlib.contextmanager
def core_on_a_link(relay_bin, tmp_path, addr=CGA):
    """lwip_relay on a TAP device bridged to a peer's link, the core opened with `addr`;
    yields (the link, a Relay client)."""
    with simulation.Link(["ar", "peer"]) as link:
        simulation.sh("ip", "-n", link.ns["ar"], "tuntap", "add", "dev", "tap0", "mode", "tap")
        simulation.sh("ip", "-n", link.ns["ar"], "link", "set", "tap0", "master", "br0", "up")
        log = open(tmp_path / "relay.log", "w")
        relay = link.spawn("ar", [relay_bin, "tap0", tmp_path / "relay.sock", LWIP_MAC], log)
        wait_for(lambda: "lwip_relay:" in (tmp_path / "relay.log").read_text() or relay.poll() is not None, 15,
                 "lwip_relay to start")
        r = Relay(str(tmp_path / "relay.sock"), tmp_path / "me.sock")
        opened = r.call(b"O" + addr + b"-" + str(tmp_path / "wake.sock").encode())
        assert opened[:5] == b"r\0\0\0\0" and opened[5:11] == OURS
        yield link, r
        assert r.call(b"C")[:5] == b"r\0\0\0\0"
        stop(relay)
        log.close()


def test_pcbs_take_send_and_fmip_only_into_a_bounded_ring_lwip(relay_bin, tmp_path):
    """Straight at the core on lwIP: an echo request stays lwIP's; a Mobility Header behind
    Destination Options and CPSs are queued whole with the frame's source MAC, four at
    most (RAWIP6_SLOTS), the rest dropped and counted; the ring empties in order and
    takes packets again."""
    from fmipkey.wire import icmp6, mh

    def cps(i):
        return icmp6.packet(PEER, CGA, bytearray(bytes((148, 0, 0, 0, 0, i, 0, 0))))
    echo = icmp6.packet(PEER, CGA, bytearray(bytes((128, 0, 0, 0, 0, 1, 0, 1))))
    fbu = mh.packet(PEER, CGA, bytearray(bytes((59, 1, 8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0))), home=PEER,
                    hlim=255)
    assert fbu[6] == 60     # the Mobility Header behind Destination Options (a Home Address option)
    frames = [echo, fbu] + [cps(i) for i in range(5)]
    (tmp_path / "frames").write_bytes(b"".join(
        len(f).to_bytes(2, "big") + f for f in (OURS + PEER_MAC + b"\x86\xdd" + p for p in frames)))
    with core_on_a_link(relay_bin, tmp_path) as (link, r):
        link.exec_(link.ns["peer"], sys.executable, "-c", SEND_FRAMES, tmp_path / "frames")
        wait_for(lambda: sum(r.stats()[:2]) >= 6, 10, "the relay to see the frames")
        time.sleep(0.2)   # anything more would arrive now
        rx, full, big, tx, tx_err = r.stats()
        assert (rx, full, big) == (4, 2, 0)
        assert r.pending() == len(fbu)          # the oldest packet's length: what a reader allocates
        got = [r.call(b"R") for _ in range(5)]
        assert r.pending() == 0
        assert [g[:1] for g in got] == [b"P"] * 4 + [b"N"]
        assert [g[1:7] for g in got[:4]] == [PEER_MAC] * 4
        assert [g[7:] for g in got[:4]] == [fbu, cps(0), cps(1), cps(2)]
        link.exec_(link.ns["peer"], sys.executable, "-c", SEND_FRAMES, tmp_path / "frames")
        wait_for(lambda: r.stats()[0] >= 8, 10, "the ring to take packets again")
        assert r.call(b"R")[7:] == fbu


RECV_FRAMES = ("import socket, sys\n"
               "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0xdd86)\n"   # ETH_P_IPV6, network order
               "s.bind(('eth0', 0))\n"
               "s.settimeout(10)\n"
               "print('ready', flush=True)\n"
               "src, n, got = bytes.fromhex(sys.argv[2]), int(sys.argv[3]), []\n"
               "while len(got) < n:\n"
               "    f = s.recv(2048)\n"
               "    if f[22:38] == src and (f[20] == 135 or f[20] == 58 and f[54] in (148, 149, 154)):\n"  # not ND, MLD
               "        got.append(f)\n"
               "open(sys.argv[1], 'wb').write(b''.join(len(f).to_bytes(2, 'big') + f for f in got))\n")


def listening_peer(link, tmp_path, src, n):
    """RECV_FRAMES in the peer's namespace, once it listens: it writes the first n frames
    from src to tmp_path / "got"; returns (the process, its log file)."""
    log = open(tmp_path / "peer.log", "w")
    peer = link.spawn("peer", [sys.executable, "-c", RECV_FRAMES, tmp_path / "got", src.hex(), n], log)
    wait_for(lambda: "ready" in (tmp_path / "peer.log").read_text() or peer.poll() is not None, 10,
             "the peer to listen")
    return peer, log


def test_lwip_fills_each_checksum_in_its_field_lwip(relay_bin, tmp_path):
    """What the core sends, lwIP sends with its own checksum, whatever the engine's said
    (0xdead here): ICMPv6 at offset 2 (tshark checks it), the Mobility Header at offset 4
    with its MH Type and Reserved octets (2, 3) as they were; to a multicast group with
    the packets' hop limit 255, not lwIP's multicast default of 1."""
    from fmipkey.wire import icmp6, mh
    import pcap
    group = bytes.fromhex("ff020000000000000000000000000001")
    cpa = bytearray(icmp6.packet(CGA, group, bytearray(bytes((149, 0, 0, 0, 0, 7, 0, 0)))))
    fback = bytearray(mh.packet(CGA, group, bytearray(bytes((59, 1, 9, 0, 0, 0, 0, 0, 0, 1, 1, 44, 1, 2, 0, 0))),
                                hlim=255))
    cpa[42:44] = fback[44:46] = b"\xde\xad"
    with core_on_a_link(relay_bin, tmp_path) as (link, r):
        peer, log = listening_peer(link, tmp_path, CGA, 2)
        for p in (cpa, fback):
            assert r.call(b"S" + bytes(p))[:5] == b"r\0\0\0\0"
        assert peer.wait(15) == 0, (tmp_path / "peer.log").read_text()
        log.close()
    frames = received(tmp_path / "got")
    pcap.write(tmp_path / "got.pcap", frames)
    (p_cpa, _) = simulation.packets(tmp_path / "got.pcap")
    ip, ip_mh = (f[14:] for f in frames)
    assert all(f[6:12] == OURS and f[14 + 24:14 + 40] == group for f in frames)
    assert (ip[6], ip[7], ip_mh[6], ip_mh[7]) == (58, 255, 135, 255)
    assert ip[40] == 149 and ip[42:44] != b"\xde\xad" and p_cpa["icmpv6.checksum.status"] == "1"
    body = ip_mh[40:]
    assert body[:4] == bytes((59, 1, 9, 0)) and body[4:6] != b"\xde\xad"
    assert icmp6.checksum_ok(body, CGA, group, icmp6.NH_MH, 4)


def received(path):
    """The frames RECV_FRAMES wrote."""
    data, frames = path.read_bytes(), []
    while data:
        n = int.from_bytes(data[:2], "big")
        frames.append(data[2:2 + n])
        data = data[2 + n:]
    return frames


def test_a_cga_off_link_local_still_resolves_neighbours_lwip(relay_bin, tmp_path):
    """A CGA on a global prefix (provision allows it for an AR; an MN's always is) takes an
    address slot other than the first, which lwIP keeps for a link-local address and leaves
    empty here. lwIP still resolves a neighbour on the prefix (its Neighbor Solicitation
    comes from the CGA) and the unicast goes out. On ESP-IDF, whose default IPv6 input hook
    drops everything on such a netif, sdkconfig.board turns that hook off."""
    from fmipkey.wire import icmp6
    cga_ = bytes.fromhex("20010db800010000" + CGA[8:].hex())
    peer = bytes.fromhex("20010db800010000" + "0000000000000002")
    with core_on_a_link(relay_bin, tmp_path, cga_) as (link, r):
        ns = link.ns["peer"]
        link.exec_(ns, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.addr_gen_mode=1", "net.ipv6.conf.eth0.disable_ipv6=0")
        simulation.sh("ip", "-n", ns, "-6", "addr", "add", "2001:db8:1::2/64", "dev", "eth0", "nodad")
        got, log = listening_peer(link, tmp_path, cga_, 1)
        pkt = icmp6.packet(cga_, peer, bytearray(bytes((149, 0, 0, 0, 0, 9, 0, 0))))
        assert r.call(b"S" + pkt)[:5] == b"r\0\0\0\0"      # queued while lwIP resolves the peer
        assert got.wait(15) == 0, "lwIP never resolved the peer: %s" % (tmp_path / "peer.log").read_text()
        log.close()
    (frame,) = received(tmp_path / "got")
    assert frame[6:12] == OURS and frame[14:] == pkt
