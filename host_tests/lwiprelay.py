# A fmipkey_hw module for the MicroPython unix port: RawIP6 relays each call to
# the rawip6 core running on lwIP in host_tests/c/lwip_relay.c (unix datagram
# sockets), with the binding's names, return values and errors
# (boards/esp32/cmodules/fmipkey_hw/modfmipkey_hw.c). select.poll sees it
# readable when the relay's notify hook has signalled a queued packet, as it
# sees the binding's object readable while the ring holds one.
#
# Run the firmware with it: lwiprelay.install(relay_socket_path).
import errno
import io
import os
import socket
import struct
import sys

_AF_UNIX = 1
_SOCK_DGRAM = 2
_GET_FILENO = 10    # MP_STREAM_GET_FILENO: poll() then polls that descriptor
# lwIP err_t -> errno, as the binding's raise_lwip
_ERRNO = {-1: errno.ENOMEM, -2: errno.ENOBUFS, -4: errno.EHOSTUNREACH, -6: errno.EINVAL,
          -5: errno.EALREADY, -11: errno.ENOTCONN}


def _addr(path):
    return struct.pack("@H", _AF_UNIX) + path.encode() + b"\0"   # struct sockaddr_un


class RawIP6(io.IOBase):
    relay = None    # the relay's socket path, set by install()

    def __init__(self, ifname, addr, prefix=None):
        if ifname not in ("ap", "sta"):
            raise OSError(errno.ENODEV)
        self.dir = "/tmp/fmk-rawip6-" + "".join("%02x" % b for b in os.urandom(6))
        os.mkdir(self.dir)
        self.ctl = self._bound("ctl")
        self.wake = self._bound("wake")
        self.wake.setblocking(False)
        flag = b"p" + bytes(prefix) if prefix is not None else b"-"
        st, rest = self._call(b"O" + bytes(addr) + flag + (self.dir + "/wake").encode())
        self._raise(st)
        self._mac = rest[:6]

    def _bound(self, name):
        s = socket.socket(_AF_UNIX, _SOCK_DGRAM)
        s.bind(_addr(self.dir + "/" + name))
        return s

    def _call(self, req):
        self.ctl.sendto(req, _addr(self.relay))
        r = self.ctl.recv(4096)
        if r[:1] != b"r":
            return None, r
        return struct.unpack("<i", r[1:5])[0], r[5:]

    @staticmethod
    def _raise(st):
        if st:
            raise OSError(_ERRNO.get(st, errno.EIO))

    def ioctl(self, req, arg):
        return self.wake.fileno() if req == _GET_FILENO else 0

    def recv(self):
        try:
            while self.wake.recv(64):
                pass
        except OSError:   # EAGAIN: every wake-up read
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
                os.remove(self.dir + "/" + name)
            os.rmdir(self.dir)


class Module:
    RawIP6 = RawIP6   # no modexp: crypto.backend keeps software pow (mpi is tested on mbedTLS apart)


def install(relay):
    RawIP6.relay = relay
    sys.modules["fmipkey_hw"] = Module
