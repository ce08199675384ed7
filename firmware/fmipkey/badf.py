# The FBU/FBack authenticator (rfc5568 6.4.5 with rfc3775 6.2.7, NOTES.md):
# First(N, HMAC(handover key, care-of address | PAR address | MH data)), SPI 0.
# AT says which HMAC and N. One place for the MN (sign FBU, check FBack) and the
# AR (check FBU, sign FBack), so both compute exactly the same bytes.
# For an FBack, coa and par are those of the FBU it answers: the care-of
# address that FBU registers and the PAR's address.
from fmipkey.crypto import hmac
from fmipkey.wire import mh

ALGS = {0: ("sha1", 12), 1: ("sha256", 16)}   # AT -> (hash, authenticator octets)


def auth_len(at):
    return ALGS[at][1]


def mac(key, at, m, auth_off, coa, par):
    """The authenticator for MH bytes m whose Authenticator starts at auth_off."""
    alg, n = ALGS[at]
    return hmac.digest(alg, key, mh.mac_data(m, auth_off, coa, par))[:n]


def sign(key, at, m, auth_off, coa, par):
    """Fill the zeroed Authenticator of an MH bytearray from mh.fbu / mh.fback."""
    m[auth_off:] = mac(key, at, m, auth_off, coa, par)


def verify(key, at, m, coa, par):
    """True if the parsed mh.MH m carries a BADF with SPI 0 whose authenticator checks out."""
    if m.badf is None or at not in ALGS:
        return False
    spi, start, end = m.badf
    if spi != 0 or end - start != ALGS[at][1]:
        return False
    return hmac.equal(mac(key, at, m.raw, start, coa, par), m.raw[start:end])
