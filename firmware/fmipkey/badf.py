# The FBU/FBack authenticator (rfc5568 6.4.5 with rfc3775 6.2.7, docs/interop.md):
# First(N, HMAC(handover key, care-of address | PAR address | MH data)), SPI 0.
# AT says which HMAC and N. One place for the MN (sign FBU, check FBack) and the
# AR (check FBU, sign FBack), so both compute exactly the same bytes.
# For an FBack, coa and par are those of the FBU it answers: the care-of
# address that FBU registers and the PAR's address.
from fmipkey.crypto import hmac
from fmipkey.wire import mh

# Handover key Algorithm Types (rfc5269 4.1; docs/interop.md): the one table of them.
# AT -> (HMAC hash, authenticator octets, handover key octets)
ALGS = {0: ("sha1", 12, 20), 1: ("sha256", 16, 32)}


def auth_len(at):
    return ALGS[at][1]


def key_len(at):
    """Handover key octets for AT, None for an AT we do not support."""
    a = ALGS.get(at)
    return a[2] if a else None


def mac(key, at, m, auth_off, coa, par):
    """The authenticator for MH bytes m whose Authenticator starts at auth_off."""
    alg, n, _ = ALGS[at]
    return hmac.digest(alg, key, mh.mac_data(m, auth_off, coa, par))[:n]


def sign(key, at, m, auth_off, coa, par):
    """Fill the zeroed Authenticator of an MH bytearray from mh.Fbu.emit / mh.Fback.emit."""
    m[auth_off:] = mac(key, at, m, auth_off, coa, par)


def verify(key, at, m, coa, par):
    """True if the parsed mh.Fbu or mh.Fback m carries a BADF with SPI 0 whose authenticator checks out."""
    if m.badf is None or at not in ALGS:
        return False
    spi, start, end = m.badf
    if spi != 0 or end - start != ALGS[at][1]:
        return False
    return hmac.equal(mac(key, at, m.raw, start, coa, par), m.raw[start:end])
