# The ESP32 pieces over a fake fmipkey_hw (fakehw.py): the real C module exists
# only in the ESP32 image. crypto.backend picks the module's modexp when it
# imports, net/esp32.py drives RawIP6. The C module itself is tested on
# mbedTLS and lwIP in host_tests/test_hw_mbedtls.py and test_hw_lwip.py.

import fakehw
import fwtest
from fmipkey.errors import ConfigError

NAME = "fmipkey.crypto.backend"
CGA = b"\xfe\x80" + bytes(6) + b"\x10\x11\x12\x13\x14\x15\x16\x17"
MN = b"\xfe\x80" + bytes(6) + b"\x20\x21\x22\x23\x24\x25\x26\x27"


def fresh_backend():
    return fwtest.fresh_import(NAME)


def icmp6(type_, hlim=255, src=MN, dst=CGA, body=bytes(4)):
    payload = bytes((type_, 0, 0, 0)) + body
    n = len(payload)
    return bytes((0x60, 0, 0, 0, n >> 8, n & 255, 58, hlim)) + src + dst + payload


def test_backend_uses_fmipkey_hw_modexp_when_it_imports():
    hw = fakehw.install()
    try:
        b = fresh_backend()
    finally:
        fakehw.remove()
    assert b.modexp == "fmipkey_hw (mbedtls_mpi_exp_mod, the RSA peripheral)"
    n = 0xC5F3D84B6E1A9F27  # odd
    assert b.powmod(0x1234567, 65537, n) == pow(0x1234567, 65537, n)
    assert hw.calls == [n]
    # an even modulus never reaches the module (Montgomery needs it odd)
    assert b.powmod(3, 5, 1000) == 243
    assert hw.calls == [n]


def test_backend_without_fmipkey_hw_takes_the_next_entry():
    fakehw.remove()
    b = fresh_backend()
    assert not b.modexp.startswith("fmipkey_hw")
    assert b.powmod(7, 0x10001, 0xC5F3D84B6E1A9F27) == pow(7, 0x10001, 0xC5F3D84B6E1A9F27)


def open_link():
    fakehw.install()
    try:
        from fmipkey.net.esp32 import Link
        return Link("ap", CGA, b"\x20\x01\x0d\xb8\x00\x01\x00\x00")
    finally:
        fakehw.remove()


def test_esp32_link_opens_raw_ipv6_with_the_cga():
    fakehw.RawIP6.opened = []
    link = open_link()
    assert fakehw.RawIP6.opened == [("ap", CGA, b"\x20\x01\x0d\xb8\x00\x01\x00\x00")]
    assert link.mac == b"\x24\x0a\xc4\x00\x00\x01"
    assert link.fileno() is link.raw        # what select.poll registers
    assert link.recv() is None


def test_esp32_link_unknown_interface_is_a_config_error():
    fakehw.install()
    try:
        from fmipkey.net.esp32 import Link
        e = fwtest.raises(ConfigError, Link, "eth9", CGA)
    finally:
        fakehw.remove()
    assert "eth9" in e.args[0]


def test_esp32_link_recv_passes_packets_and_drops_bad_ones():
    link = open_link()
    mac = b"\x02\x00\x00\x00\x00\x07"
    good = icmp6(154)
    link.raw.queue = [(b"\x60" + bytes(10), mac), (icmp6(154, hlim=64), mac), (good, mac)]
    link.raw.counts = [3, 2, 1, 0, 0]
    assert link.recv() == (good, mac)
    assert link.recv() is None
    c = link.counters
    assert (c["dropped.malformed"], c["dropped.hop_limit"]) == (1, 1)
    assert (c["dropped.ring_full"], c["dropped.too_big"]) == (2, 1)


def test_esp32_link_sends_whole_packets_and_closes():
    link = open_link()
    pkt = icmp6(154, src=CGA, dst=MN)
    link.send(pkt, b"\x02\x00\x00\x00\x00\x07")
    assert link.raw.sent == [pkt]
    link.close()
    fwtest.raises(OSError, link.send, pkt)
