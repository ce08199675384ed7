"""Regenerate the static RSA keys the firmware tests read (host_tests/fw/data/).

Keys come from OpenSSL via `cryptography`, so firmware tests never depend on
keys our own code produced. Run: .venv/bin/python host_tests/make_fixtures.py
"""
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DATA = Path(__file__).parent / "fw" / "data"


def write(name, key, fmt):
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    (DATA / name).write_bytes(pem)


def main():
    DATA.mkdir(parents=True, exist_ok=True)
    for bits in (1024, 2048):
        for tag in ("a", "b"):
            write("rsa%d_%s.pem" % (bits, tag), rsa.generate_private_key(65537, bits),
                  serialization.PrivateFormat.TraditionalOpenSSL)
    write("rsa1024_pkcs8.pem", rsa.generate_private_key(65537, 1024), serialization.PrivateFormat.PKCS8)


if __name__ == "__main__":
    main()
