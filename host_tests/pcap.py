"""A tiny classic-pcap writer for tests: Ethernet (linktype 1) frames around IPv6 packets."""
import struct

LINKTYPE_ETHERNET = 1


def ethernet(packet, src_mac=b"\x02\x00\x00\x00\x00\x01", dst_mac=b"\x33\x33\x00\x00\x00\x02"):
    return dst_mac + src_mac + b"\x86\xdd" + bytes(packet)


def write(path, frames, t0=1700000000):
    """Write frames (bytes, one per packet) to path, one second apart from t0."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", t0 + i, 0, len(fr), len(fr)) + bytes(fr))
