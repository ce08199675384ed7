"""net/linux.py on a real link: two network namespaces joined by a veth pair.

The driver runs in both namespaces (under MicroPython and under CPython); an
independent CPython AF_PACKET sniffer in the receiving namespace records the
Ethernet frames themselves, so the link-layer destinations the driver picks
are checked by code that is not the driver. Needs root and `ip netns`.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"

if os.geteuid() != 0:
    pytest.skip("needs root to create network namespaces", allow_module_level=True)
if shutil.which("ip") is None or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
    pytest.skip("needs iproute2 with `ip netns`", allow_module_level=True)

A_LL = bytes.fromhex("fe800000000000000000000000a1a2a3")
B_LL = bytes.fromhex("fe800000000000000000000000b1b2b3")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")


def ipv6(src, dst, icmp_type, body, hop_limit=255):
    """A hand-built IPv6 + ICMPv6 packet (checksum left 0: nothing here checks it)."""
    icmp = bytes([icmp_type, 0, 0, 0]) + body
    return struct.pack(">IHBB", 0x60000000, len(icmp), 58, hop_limit) + src + dst + icmp


# to A: a Router Solicitation that crossed a router (hop limit 64), dropped by B's driver
CROSSED = ipv6(A_LL, ALL_ROUTERS, 133, b"\x00" * 4, hop_limit=64)
UNICAST = ipv6(A_LL, B_LL, 200, b"unicast to an unknown neighbor")
MULTICAST = ipv6(A_LL, ALL_ROUTERS, 201, b"to all routers")
REPLY = ipv6(B_LL, A_LL, 202, b"reply to the frame's MAC")
LATER = ipv6(B_LL, A_LL, 203, b"no MAC given: nothing learnt from A's frames")

# The driver under test, receiving side (namespace B): receive two packets, answer the first.
RECEIVER = """
import sys, select, binascii
from fmipkey.net.linux import Link
link = Link(sys.argv[1])
reply = binascii.unhexlify(sys.argv[2])
later = binascii.unhexlify(sys.argv[3])
poll = select.poll()
poll.register(link.fileno(), select.POLLIN)
print("ready")
got = []
for i in range(50):
    if not poll.poll(100):
        continue
    r = link.recv()
    while r is not None:
        if r[0][6] == 58 and r[0][40] in (133, 200, 201):
            got.append(r)
        r = link.recv()
    if len(got) >= 2:
        break
link.send(later)
link.send(reply, got[0][1])
print("got " + " ".join("%s/%s" % (binascii.hexlify(p).decode(), binascii.hexlify(m).decode()) for p, m in got))
print("dropped %d" % link.counters["dropped.hop_limit"])
link.close()
"""

# The driver under test, sending side (namespace A): send three packets, wait for the reply.
SENDER = """
import sys, select, binascii
from fmipkey.net.linux import Link
link = Link(sys.argv[1])
for h in sys.argv[2:]:
    link.send(binascii.unhexlify(h))
poll = select.poll()
poll.register(link.fileno(), select.POLLIN)
got = []
for i in range(50):
    if poll.poll(100):
        r = link.recv()
        while r is not None:
            if r[0][6] == 58 and r[0][40] in (133, 200, 201, 202):
                got.append(binascii.hexlify(r[0]).decode())
            r = link.recv()
    if got:
        break
print("got " + " ".join(got))
link.close()
"""

# Not the driver: a plain CPython tap on every IPv6 frame of the interface.
SNIFFER = """
import socket, sys, time, json
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL: outgoing too
s.bind((sys.argv[1], 3))
s.settimeout(0.2)
print("ready", flush=True)
end = time.time() + 8
while time.time() < end:
    try:
        frame, sa = s.recvfrom(4096)
    except socket.timeout:
        continue
    if frame[12:14] == b"\\x86\\xdd" and frame[14 + 6] == 58 and frame[14 + 40] in (133, 200, 201, 202, 203):
        print(json.dumps([frame.hex(), sa[2]]), flush=True)
        if frame[14 + 40] == 202:
            break
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@pytest.fixture
def veth():
    tag = os.urandom(3).hex()
    ns_a, ns_b = "fkA" + tag, "fkB" + tag
    if_a, if_b = "fka" + tag, "fkb" + tag
    try:
        run(["ip", "netns", "add", ns_a])
        run(["ip", "netns", "add", ns_b])
        run(["ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b])
        for ns, ifn in ((ns_a, if_a), (ns_b, if_b)):
            # no kernel IPv6 chatter on the test link: only our packets travel it
            run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.%s.disable_ipv6=1" % ifn])
            run(["ip", "-n", ns, "link", "set", ifn, "up"])
        mac = {}
        for ns, ifn in ((ns_a, if_a), (ns_b, if_b)):
            text = run(["ip", "netns", "exec", ns, "cat", "/sys/class/net/%s/address" % ifn]).stdout.strip()
            mac[ns] = bytes.fromhex(text.replace(":", ""))
        yield ns_a, if_a, ns_b, if_b, mac
    finally:
        subprocess.run(["ip", "netns", "del", ns_a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns_b], capture_output=True)


def start(ns, argv, env):
    p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    line = p.stdout.readline()
    assert line.strip() == "ready", line + p.stderr.read()
    return p


@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_packets_cross_a_veth_intact(veth, interp):
    ns_a, if_a, ns_b, if_b, mac = veth
    exe = str(MICROPYTHON) if interp == "micropython" else sys.executable
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE), PYTHONPATH=str(FIRMWARE))
    sniffer = start(ns_b, [sys.executable, "-c", SNIFFER, if_b], env)
    receiver = start(ns_b, [exe, "-c", RECEIVER, if_b, REPLY.hex(), LATER.hex()], env)
    sender = subprocess.run(["ip", "netns", "exec", ns_a, exe, "-c", SENDER, if_a,
                             CROSSED.hex(), UNICAST.hex(), MULTICAST.hex()],
                            capture_output=True, text=True, env=env, timeout=30)
    r_out, r_err = receiver.communicate(timeout=30)
    s_out, _ = sniffer.communicate(timeout=30)
    assert sender.returncode == 0, sender.stderr
    assert receiver.returncode == 0, r_err

    # B's driver: the two packets, byte for byte, from A's MAC; the crossed RS dropped and counted
    lines = dict(l.split(" ", 1) for l in r_out.strip().splitlines())
    got = [tuple(bytes.fromhex(x) for x in item.split("/")) for item in lines["got"].split()]
    assert got == [(UNICAST, mac[ns_a]), (MULTICAST, mac[ns_a])]
    assert got[0][0][7] == 255 and got[0][0][8:24] == A_LL and got[0][0][24:40] == B_LL
    assert lines["dropped"] == "1"

    # A's driver got B's reply intact, and none of its own three frames back
    assert sender.stdout.strip() == "got " + REPLY.hex()

    # the frames themselves, as an independent tap saw them on B's interface
    frames = [(bytes.fromhex(h), pkttype) for h, pkttype in map(json.loads, s_out.splitlines())]
    by_type = {f[14 + 40]: (f, pkttype) for f, pkttype in frames}
    assert sorted(by_type) == [133, 200, 201, 202, 203]
    for t, packet in ((133, CROSSED), (200, UNICAST), (201, MULTICAST)):
        f, _ = by_type[t]
        assert f[6:12] == mac[ns_a] and f[12:14] == b"\x86\xdd" and f[14:] == packet
    # unknown unicast neighbor: B_LL's solicited-node group; multicast: 33:33 + low 32 bits
    assert by_type[200][0][:6] == b"\x33\x33\xff" + B_LL[13:]
    assert by_type[201][0][:6] == b"\x33\x33\x00\x00\x00\x02"
    # the reply goes to the MAC of the frame it answers, from B's own MAC (outgoing = 4)
    f, pkttype = by_type[202]
    assert (f[:6], f[6:12], f[14:], pkttype) == (mac[ns_a], mac[ns_b], REPLY, socket.PACKET_OUTGOING)
    # no table learnt from unverified frames: without a MAC, A_LL's solicited-node group
    assert by_type[203][0][:6] == b"\x33\x33\xff" + A_LL[13:]


def test_unknown_interface_is_a_config_error():
    code = "from fmipkey.net.linux import Link\nfrom fmipkey.errors import ConfigError\n" \
           "try:\n    Link('fk-no-such0')\nexcept ConfigError as e:\n    print(e.args[0])\n"
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE), PYTHONPATH=str(FIRMWARE))
    for exe in (str(MICROPYTHON), sys.executable):
        out = run([exe, "-c", code], env=env).stdout.strip()
        assert out == "no network interface fk-no-such0"
