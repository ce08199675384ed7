"""net/linux.py's kernel filter (Link.accept_only) on a real veth: only the ICMPv6 types (and
FMIPv6 subtype) the engine reads and Mobility Header packets reach the daemon, and nothing from
a blocked MAC.
The frames are sent by a plain CPython AF_PACKET socket, not by the driver under test."""
import os
import socket
import subprocess
import sys

import pytest

from test_net_linux import A_LL, ALL_ROUTERS, FIRMWARE, MICROPYTHON, ipv6, run, start, veth  # noqa: F401

RECEIVER = """
import sys, select, binascii
from fmipkey.net.linux import Link
link = Link(sys.argv[1])
blocked = [binascii.unhexlify(m) for m in sys.argv[2:]]
link.accept_only((148, (154, 2)), blocked)
poll = select.poll()
poll.register(link.fileno(), select.POLLIN)
print("ready")
got = []
for i in range(30):
    if poll.poll(100):
        r = link.recv()
        while r is not None:
            got.append("%d/%d" % (r[0][6], r[0][40]) + ("/%d" % r[0][44] if r[0][40] == 154 else ""))
            r = link.recv()
    if "58/154/2" in got and len(got) > 2:
        break
print(" ".join(got))
"""


def mh_packet(src, dst, nh=135):
    body = bytes([59, 1, 8, 0, 0, 0, 0, 0])   # a Mobility Header (or Destination Options) of 8 octets
    return bytes.fromhex("60000000") + len(body).to_bytes(2, "big") + bytes([nh, 255]) + src + dst + body


@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_kernel_filter_passes_only_what_the_engine_reads(veth, interp):
    ns_a, if_a, ns_b, if_b, mac = veth
    exe = str(MICROPYTHON) if interp == "micropython" else sys.executable
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE), PYTHONPATH=str(FIRMWARE))
    flooder = b"\x02\x00\x00\x0f\x10\x0d"
    receiver = start(ns_b, [exe, "-c", RECEIVER, if_b, flooder.hex(), "020000000001"], env)
    frames = [(mac[ns_a], ipv6(A_LL, ALL_ROUTERS, t, bytes(4))) for t in (134, 135, 133, 148, 200)]
    frames += [(mac[ns_a], mh_packet(A_LL, ALL_ROUTERS)), (mac[ns_a], mh_packet(A_LL, ALL_ROUTERS, 60)),
               (mac[ns_a], mh_packet(A_LL, ALL_ROUTERS, 17)),
               (flooder, ipv6(A_LL, ALL_ROUTERS, 148, bytes(4))),      # the right type, a blocked source
               (mac[ns_a], ipv6(A_LL, ALL_ROUTERS, 154, bytes([3, 0, 0, 0]))),   # a PrRtAdv: not the AR's
               (mac[ns_a], ipv6(A_LL, ALL_ROUTERS, 154, bytes([2, 0, 0, 0])))]   # an RtSolPr, last: the receiver stops on it
    send = "import socket, sys\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind((sys.argv[1], 0))\n" \
           "for h in sys.argv[2:]:\n    s.send(bytes.fromhex(h))\n"
    run(["ip", "netns", "exec", ns_a, sys.executable, "-c", send, if_a]
        + [("333300000002" + m.hex() + "86dd" + p.hex()) for m, p in frames])
    out, err = receiver.communicate(timeout=30)
    assert receiver.returncode == 0, err
    assert out.split() == ["58/148", "135/59", "60/59", "58/154/2"]
