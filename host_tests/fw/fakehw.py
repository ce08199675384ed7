# A stand-in for the ESP32 image's fmipkey_hw C module, where the real one
# cannot exist (CPython, the unix port): same names and behaviour as
# boards/esp32/cmodules/fmipkey_hw/modfmipkey_hw.c, over Python lists.
import sys


class RawIP6:
    opened = []          # (ifname, addr, prefix) of every open

    def __init__(self, ifname, addr, prefix=None):
        if ifname not in ("ap", "sta"):
            raise OSError(19)   # ENODEV, as the binding
        if len(addr) != 16 or (prefix is not None and len(prefix) != 8):
            raise ValueError("addr must be 16 bytes, prefix 8")
        RawIP6.opened.append((ifname, bytes(addr), prefix))
        self.queue = []           # (packet, src_mac) the tcpip task queued
        self.sent = []
        self.is_open = True
        self.counts = [0, 0, 0, 0, 0]

    def _check(self):
        if not self.is_open:
            raise OSError(9)    # EBADF

    def recv(self):
        self._check()
        return self.queue.pop(0) if self.queue else None

    def send(self, packet):
        self._check()
        self.sent.append(bytes(packet))

    def mac(self):
        return b"\x24\x0a\xc4\x00\x00\x01"

    def stats(self):
        return tuple(self.counts)

    def close(self):
        self.is_open = False


class Module:
    RawIP6 = RawIP6

    def __init__(self):
        self.calls = []

    def modexp(self, base, exp, mod):
        if mod % 2 == 0:
            raise ValueError("modexp: modulus must be odd")
        self.calls.append(mod)
        return pow(base, exp, mod)


def install():
    m = Module()
    sys.modules["fmipkey_hw"] = m
    return m


def remove():
    sys.modules.pop("fmipkey_hw", None)
