# An AR daemon around a fake link (no socket): its bundle directory and the link, for the
# daemon tests and bench_heap.
import json
import os

from arfix import Node
from fmipkey import compat, main
from fmipkey.crypto import der
from fwtest import data


class FakeLink:
    """Records what is sent (and whether the key store file existed then); recv() plays a script."""

    def __init__(self, keystore_path, script=()):
        self.mac = b"\x02\x00\x00\x00\x00\x01"
        self.counters = {}
        self.sent = []
        self.script = list(script)
        self._ks = keystore_path
        self._fd = open("/dev/null", "rb")   # always readable for poll()

    def fileno(self):
        return self._fd.fileno()

    def recv(self):
        if not self.script:
            return None
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def send(self, packet, dst_mac=None):
        self.sent.append((packet, dst_mac, compat.exists(self._ks)))

    def close(self):
        self._fd.close()


def bundle(ar_key="rsa1024_a.pem", path=None, **cfg):
    """An AR bundle directory (path, or a new one under /tmp) with ar_key as its CGA key, the
    fixture certification path and config cfg."""
    b = path or "/tmp/fk_daemon_%s" % "".join("%02x" % x for x in os.urandom(6))
    os.mkdir(b)
    ar = Node(ar_key, bytes(16))
    c = {"role": "ar", "cga_sec": 0, "interface": "fake0"}
    c.update(cfg)
    pem = "".join(der.pem_encode("CERTIFICATE", data(n)) for n in ("cert_router.der", "cert_ca.der", "cert_root.der"))
    for name, content in (("config.json", json.dumps(c)), ("key.pem", data(ar_key)), ("cga.der", ar.params),
                          ("certs.pem", pem), ("device.key", bytes(range(32)))):
        with open(b + "/" + name, "wb" if type(content) is bytes else "w") as f:
            f.write(content)
    return b


def remove(path):
    try:
        os.remove(path)
        return
    except OSError:
        pass
    for name in os.listdir(path):
        remove(path + "/" + name)
    os.rmdir(path)


def daemon(b, script=(), keystore_file="keystore.bin", clock=None, export=False):
    return main.Daemon({"bundle": b, "export": export}, FakeLink(b + "/" + keystore_file, script), clock)
