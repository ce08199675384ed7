"""A fmipkey_hw module for a host process: RawIP6 relays each call to the
rawip6 core running on lwIP in host_tests/c/lwip_relay.c (unix datagram
sockets), with the binding's names, return values and errors
(boards/esp32/cmodules/fmipkey_hw/modfmipkey_hw.c). Its fileno() is a socket
the relay's notify hook makes readable, where the binding is pollable.

Run a firmware process with it: `lwiprelay.install(relay_socket_path)`."""
import errno
import os
import socket
import struct
import sys
import tempfile

# lwIP err_t -> errno, as the binding's raise_lwip
ERRNO = {-1: errno.ENOMEM, -2: errno.ENOBUFS, -4: errno.EHOSTUNREACH, -6: errno.EINVAL,
         -5: errno.EALREADY, -11: errno.ENOTCONN}


class RawIP6:
    relay = None    # the relay's socket path, set by install()

    def __init__(self, ifname, addr, prefix=None):
        if ifname not in ("ap", "sta"):
            raise OSError(errno.ENODEV, "no netif %s" % ifname)
        self.dir = tempfile.mkdtemp(prefix="fmk-rawip6-")
        self.ctl = self._bound("ctl")
        self.wake = self._bound("wake")
        self.wake.setblocking(False)
        flag = b"p" + bytes(prefix) if prefix is not None else b"-"
        st, rest = self._call(b"O" + bytes(addr) + flag + (self.dir + "/wake").encode())
        self._raise(st)
        self._mac = rest[:6]

    def _bound(self, name):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(self.dir + "/" + name)
        s.settimeout(5)
        return s

    def _call(self, req):
        self.ctl.sendto(req, self.relay)
        r = self.ctl.recv(4096)
        if r[:1] != b"r":
            return None, r
        return struct.unpack("<i", r[1:5])[0], r[5:]

    @staticmethod
    def _raise(st):
        if st:
            e = ERRNO.get(st, errno.EIO)
            raise OSError(e, "lwIP err %d" % st)

    def fileno(self):
        return self.wake.fileno()

    def recv(self):
        try:
            while self.wake.recv(64):
                pass
        except BlockingIOError:
            pass
        _, r = self._call(b"R")
        return (r[7:], r[1:7]) if r[:1] == b"P" else None

    def send(self, packet):
        self._raise(self._call(b"S" + bytes(packet))[0])

    def mac(self):
        return self._mac

    def stats(self):
        return struct.unpack("<5I", self._call(b"T")[1])

    def close(self):
        if self.ctl is not None:
            self._call(b"C")
            for s in (self.ctl, self.wake):
                s.close()
            self.ctl = None
            for name in ("ctl", "wake"):
                os.unlink(self.dir + "/" + name)
            os.rmdir(self.dir)


class Module:
    RawIP6 = RawIP6   # no modexp: crypto.backend keeps software pow (mpi is tested on mbedTLS apart)


def install(relay):
    RawIP6.relay = relay
    sys.modules["fmipkey_hw"] = Module
