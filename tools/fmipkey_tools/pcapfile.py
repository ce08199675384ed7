"""Read IPv6 packets out of a classic pcap file (both byte orders, micro- and nanosecond
timestamps) for the link types a SEND/FMIPv6 capture comes in."""
import struct

MAGICS = {  # magic as read little-endian -> (struct byte order, timestamp fraction divisor)
    0xA1B2C3D4: ("<", 1e6), 0xD4C3B2A1: (">", 1e6),
    0xA1B23C4D: ("<", 1e9), 0x4D3CB2A1: (">", 1e9),
}
PCAPNG = 0x0A0D0D0A
ETHERTYPE_IPV6 = 0x86DD
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)


class PcapError(Exception):
    """The file cannot be read; the text says why and what to do."""


def _ethernet(frame):
    off, etype = 12, None
    while off + 2 <= len(frame):
        etype = struct.unpack_from(">H", frame, off)[0]
        if etype not in VLAN_TAGS:
            break
        off += 4                       # 802.1Q / 802.1ad tag: TPID + TCI
    return frame[off + 2:] if etype == ETHERTYPE_IPV6 else None


def _sll(frame):                       # Linux cooked v1: protocol at 14, payload at 16
    return frame[16:] if len(frame) >= 16 and frame[14:16] == b"\x86\xdd" else None


def _sll2(frame):                      # Linux cooked v2: protocol at 0, payload at 20
    return frame[20:] if len(frame) >= 20 and frame[0:2] == b"\x86\xdd" else None


def _raw(frame):                       # raw IP: v4 or v6, told by the version nibble
    return frame if frame and frame[0] >> 4 == 6 else None


LINK_TYPES = {1: ("Ethernet", _ethernet), 113: ("Linux SLL", _sll), 276: ("Linux SLL2", _sll2),
              101: ("raw IP", _raw), 229: ("raw IPv6", _raw), 12: ("raw IP", _raw), 14: ("raw IP", _raw)}


def read(path):
    """([(time, ipv6_bytes or None, note)] of every complete record, warning or None).
    None for a frame that holds no IPv6 packet, with a note when it was cut short by the
    snapshot length; the warning tells of a truncated tail (a capture still being written
    or cut off), whose records before it are all returned."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise PcapError("%s: no such file; give the path of a capture (tcpdump -w FILE)" % path)
    except OSError as e:
        raise PcapError("%s: cannot read: %s" % (path, e.strerror))
    if len(data) < 24:
        raise PcapError("%s: not a pcap file (too short for a pcap header)" % path)
    magic = struct.unpack_from("<I", data)[0]
    if magic == PCAPNG:
        raise PcapError("%s is pcapng; convert it to pcap: editcap -F pcap %s out.pcap" % (path, path))
    if magic not in MAGICS:
        raise PcapError("%s: not a pcap file (magic %08x); capture with tcpdump -w, or convert with "
                        "editcap -F pcap" % (path, magic))
    bo, frac = MAGICS[magic]
    linktype = struct.unpack_from(bo + "I", data, 20)[0] & 0x0FFFFFFF   # upper bits: FCS info
    if linktype not in LINK_TYPES:
        raise PcapError("%s: link type %d is not supported (use Ethernet, Linux SLL/SLL2 or raw IPv6: "
                        "tcpdump -i <interface> or -i any)" % (path, linktype))
    unwrap = LINK_TYPES[linktype][1]
    out, off = [], 24
    while off < len(data):
        if off + 16 > len(data) or off + 16 + struct.unpack_from(bo + "I", data, off + 8)[0] > len(data):
            return out, ("%s ends in a truncated record at offset %d (%d octets left over): decoded the %d "
                         "complete records before it" % (path, off, len(data) - off, len(out)))
        sec, sub, caplen, wirelen = struct.unpack_from(bo + "IIII", data, off)
        off += 16
        frame = data[off:off + caplen]
        off += caplen
        note = "cut to %d of %d octets by the snapshot length" % (caplen, wirelen) if caplen < wirelen else None
        out.append((sec + sub / frac, unwrap(frame), note))
    return out, None
