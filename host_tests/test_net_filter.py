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
types, mh_types, last = eval(sys.argv[2]), eval(sys.argv[3]), sys.argv[4]
link.accept_only(types, [binascii.unhexlify(m) for m in sys.argv[5:]], mh_types)
poll = select.poll()
poll.register(link.fileno(), select.POLLIN)
print("ready")
got = []
for i in range(30):
    if poll.poll(100):
        r = link.recv()
        while r is not None:
            p = r[0]
            got.append("%d/%d" % (p[6], p[42] if p[6] == 135 else p[40]) + ("/%d" % p[44] if p[6] == 58 and p[40] == 154 else ""))
            r = link.recv()
    if last in got and len(got) > 2:
        break
print(" ".join(got))
"""


def mh_packet(src, dst, nh=135, mh_type=8):
    body = bytes([59, 0, mh_type, 0, 0, 0, 0, 0])   # a Mobility Header (or Destination Options) of 8 octets
    return bytes.fromhex("60000000") + len(body).to_bytes(2, "big") + bytes([nh, 255]) + src + dst + body


def send_and_receive(veth, interp, filt, frames):
    """What a receiver with the filter accept_only(*filt) reads of `frames` [(src MAC, packet)], the
    last of which must pass; each as "58/<ICMPv6 type>[/<FMIPv6 subtype>]" or "135/<MH Type>"."""
    ns_a, if_a, ns_b, if_b, mac = veth
    exe = str(MICROPYTHON) if interp == "micropython" else sys.executable
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE), PYTHONPATH=str(FIRMWARE))
    last = frames[-1][1]
    last = "58/%d/%d" % (last[40], last[44])
    receiver = start(ns_b, [exe, "-c", RECEIVER, if_b, repr(filt[0]), repr(filt[2] if len(filt) > 2 else None), last]
                     + [m.hex() for m in filt[1]], env)
    send = "import socket, sys\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind((sys.argv[1], 0))\n" \
           "for h in sys.argv[2:]:\n    s.send(bytes.fromhex(h))\n"
    run(["ip", "netns", "exec", ns_a, sys.executable, "-c", send, if_a]
        + [("333300000002" + (m or mac[ns_a]).hex() + "86dd" + p.hex()) for m, p in frames])
    out, err = receiver.communicate(timeout=30)
    assert receiver.returncode == 0, err
    return out.split()


@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_kernel_filter_passes_only_what_the_engine_reads(veth, interp):
    flooder = b"\x02\x00\x00\x0f\x10\x0d"
    frames = [(None, ipv6(A_LL, ALL_ROUTERS, t, bytes(4))) for t in (134, 135, 133, 148, 200)]
    frames += [(None, mh_packet(A_LL, ALL_ROUTERS)), (None, mh_packet(A_LL, ALL_ROUTERS, 60)),
               (None, mh_packet(A_LL, ALL_ROUTERS, 17)),
               (flooder, ipv6(A_LL, ALL_ROUTERS, 148, bytes(4))),      # the right type, a blocked source
               (None, ipv6(A_LL, ALL_ROUTERS, 154, bytes([3, 0, 0, 0]))),   # a PrRtAdv: not the AR's
               (None, ipv6(A_LL, ALL_ROUTERS, 154, bytes([2, 0, 0, 0])))]   # an RtSolPr, last: the receiver stops on it
    got = send_and_receive(veth, interp, ((148, (154, 2)), [flooder, bytes.fromhex("020000000001")]), frames)
    assert got == ["58/148", "135/8", "60/59", "58/154/2"]


@pytest.mark.parametrize("interp", ["micropython", "cpython"])
def test_mn_filter_passes_only_cpa_prrtadv_and_fback(veth, interp):
    # an MN must not read an AR's traffic: a flood of RtSolPrs or FBUs would fill its socket
    frames = [(None, ipv6(A_LL, ALL_ROUTERS, t, bytes(4))) for t in (148, 149)]
    frames += [(None, mh_packet(A_LL, ALL_ROUTERS)), (None, mh_packet(A_LL, ALL_ROUTERS, 60, 9)),
               (None, mh_packet(A_LL, ALL_ROUTERS, mh_type=9)),
               (None, ipv6(A_LL, ALL_ROUTERS, 154, bytes([2, 0, 0, 0]))),   # an RtSolPr: not the MN's
               (None, ipv6(A_LL, ALL_ROUTERS, 154, bytes([3, 0, 0, 0])))]   # a PrRtAdv, last
    got = send_and_receive(veth, interp, ((149, (154, 3)), [], (9,)), frames)
    assert got == ["58/149", "135/9", "58/154/3"]
