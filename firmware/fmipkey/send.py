# SEND (RFC 3971 5.1-5.3): signing and verifying ND messages with the RSA Signature, CGA,
# Timestamp and Nonce options. Sans-IO: callers pass addresses, message bytes and `now` (clock.Now).
from fmipkey.compat import const
from fmipkey.crypto import backend, cga, der, rsa
from fmipkey.errors import ParseError, VerifyError
from fmipkey.wire import icmp6, ndopt

# CGA Message Type tag for SEND (RFC 3971 5.2)
TAG = b"\x08\x6f\xca\x5e\x10\xb2\x00\xc9\x9c\x8c\xe0\x01\x64\x27\x7c\x08"

# RFC 3971 10.2 defaults: seconds, seconds, percent (config.py can change them)
TIMESTAMP_DELTA = const(300)
TIMESTAMP_FUZZ = const(1)
TIMESTAMP_DRIFT = const(1)


def ts_units(seconds):
    """Seconds (int or float: a duration, or a host's Unix time) -> 1/65536 s, the Timestamp's unit."""
    if isinstance(seconds, int):
        return seconds << 16
    return int(seconds * 65536)


def timestamp(now):
    """The 64-bit Timestamp value (48.16 fixed point) of a clock.Now: whole seconds from the
    wall clock, the fraction from ticks (integers only: see clock.py)."""
    return (now.s << 16) + (now.sub << 16) // 1000


def key_hash(spki):
    """Leftmost 128 bits of SHA-1 over the DER SubjectPublicKeyInfo (RFC 3971 5.2)."""
    return backend.sha1(spki).digest()[:16]


def new_nonce(n=6):
    """A random nonce; 2 + n must be a multiple of 8."""
    return backend.random_bytes(n)


def _digest(msg, end, src, dst):
    # SHA-1 of the signed data over msg[:end]. The checksum in it is that of msg[:end] alone
    # (docs/interop.md: what sendd and NDprotector do).
    c = icmp6.checksum(src, dst, icmp6.NH_ICMPV6, msg[:end], 2)
    h = backend.sha1(TAG)
    h.update(bytes(src))
    h.update(bytes(dst))
    h.update(bytes((msg[0], msg[1], c >> 8, c & 0xFF)))
    h.update(msg[4:end])
    return h.digest()


def sign(msg, src, dst, priv, spki):
    """Append the RSA Signature option to msg (an ICMPv6 message with every other option) and
    set the final checksum; returns a new bytearray."""
    sig = rsa.sign_digest(priv, _digest(memoryview(msg), len(msg), src, dst), "sha1")
    out = bytearray(msg)
    out.extend(ndopt.rsa_sig(key_hash(spki), sig))
    icmp6.set_checksum(out, src, dst)
    return out


def message(src, dst, msg, priv, cga_params=None, spki=None, now=None, nonce=None):
    """A signed ICMPv6 message: msg (from fmip/certpath, checksum zero) plus, in this order,
    CGA (if cga_params), Timestamp (if now is given), Nonce (if given) and RSA Signature options.
    spki (the signing key's DER SPKI) defaults to the key in cga_params."""
    out = bytearray(msg)
    if cga_params is not None:
        out.extend(ndopt.cga(cga_params))
        if spki is None:
            spki = cga.parse(cga_params).public_key_der
    if now is not None:
        out.extend(ndopt.timestamp(timestamp(now)))
    if nonce is not None:
        out.extend(ndopt.nonce(nonce))
    return sign(out, src, dst, priv, spki)


def _window(ts, rd, delta):
    if not -delta < rd - ts < delta:
        raise VerifyError("timestamp outside window", "timestamp_window")


class Timestamps:
    """Per-peer RDlast/TSlast of accepted SEND messages (RFC 3971 5.3.4.2), keyed by source
    address, at most `size` peers; when full the peer heard from longest ago is dropped.
    delta and fuzz in seconds, drift in percent (TIMESTAMP_DELTA/FUZZ/DRIFT)."""

    def __init__(self, size=64, delta=TIMESTAMP_DELTA, fuzz=TIMESTAMP_FUZZ, drift=TIMESTAMP_DRIFT):
        self.size = size
        self.peers = {}
        # integers in 1/65536 s (ESP32 floats are single precision); drift in 1/10000
        self.delta = ts_units(delta)
        self.fuzz = ts_units(fuzz)
        self.drift = int(drift * 100)

    def check(self, peer, ts, now):
        rd = timestamp(now)
        last = self.peers.get(bytes(peer))
        if last is None:
            _window(ts, rd, self.delta)
            return
        rdl, tsl = last
        el = rd - rdl
        if not ts + self.fuzz > tsl + el - el * self.drift // 10000 - self.fuzz:
            raise VerifyError("timestamp older than last accepted", "timestamp_replay")

    def accept(self, peer, ts, now):
        """Record a verified message (call only after the signature checked out)."""
        k = bytes(peer)
        last = self.peers.get(k)
        if last is not None and ts <= last[1]:
            return
        self.peers[k] = (timestamp(now), ts)
        if len(self.peers) > self.size:
            old = None
            for p in self.peers:
                if old is None or self.peers[p][0] < self.peers[old][0]:
                    old = p
            del self.peers[old]


class Verified:
    """What a verified message proved: sec (CGA Sec, None when the key was known by other
    means), key (rsa.PublicKey), key_hash, timestamp (48.16 value), nonce (memoryview or None)."""

    def __init__(self, sec, key, kh, ts, nonce):
        self.sec = sec
        self.key = key
        self.key_hash = kh
        self.timestamp = ts
        self.nonce = nonce


class Signed:
    """The SEND options of a message, parsed: timestamp (48.16 value), nonce (memoryview or
    None), key_hash, sigfield (the signature with its padding), params (CGA Parameters or None)."""

    def __init__(self, m):
        if m.sig < 0:
            raise VerifyError("no RSA Signature option", "no_signature")
        try:
            self.timestamp = m.option(ndopt.TIMESTAMP, ndopt.parse_timestamp)
            self.nonce = m.option(ndopt.NONCE, ndopt.parse_nonce)
            self.key_hash, self.sigfield = ndopt.parse_rsa_sig(m.raw, m.sig, m.opts[-1][2])
            self.params = m.option(ndopt.CGA, ndopt.parse_cga)
        except ParseError as e:
            raise VerifyError(e.args[0], "malformed")
        if self.timestamp is None:
            raise VerifyError("no Timestamp option", "no_timestamp")


def check_fresh(s, src, now, timestamps=None, nonce=None, solicitation=False):
    """The freshness rules for Signed s from src (rfc3971 5.3.4): nonce, the nonce a solicited
    advertisement must echo (it replaces the timestamp check); else the per-peer timestamp cache
    `timestamps` (None: the window alone); solicitation: s must carry a Nonce. Raises
    VerifyError; changes nothing (Timestamps.accept once the signature checked out)."""
    if solicitation and s.nonce is None:
        raise VerifyError("solicitation without Nonce", "no_nonce")
    if nonce is not None:
        if s.nonce is None or bytes(s.nonce) != bytes(nonce):
            raise VerifyError("nonce mismatch", "nonce")
    elif timestamps is not None:
        timestamps.check(src, s.timestamp, now)
    else:
        _window(s.timestamp, timestamp(now), ts_units(TIMESTAMP_DELTA))


def check_signature(m, s, src, dst, known=None, min_bits=1024, max_bits=2048):
    """The RSA Signature of message m (an ndopt.Message, s its Signed options) from src to dst:
    by the CGA key when there is a CGA option (which must verify for src), else by a key of
    `known` ({key_hash: PublicKey}, keys known by other means). Cheap checks come before the
    RSA operation. Returns Verified; raises VerifyError."""
    kh = s.key_hash
    params = s.params
    if params is not None:
        sec = cga.verify(src, params)              # two SHA-1, before any RSA
        ke = der.read_tlv(params, 25, len(params))[2]
        if key_hash(params[25:ke]) != bytes(kh):
            raise VerifyError("key hash does not match CGA key", "key_hash")
        try:
            key = der.spki_at(params, 25, ke)
        except ParseError:
            raise VerifyError("CGA key is not an RSA key", "key_type")
    else:
        sec = None
        key = known.get(bytes(kh)) if known else None
        if key is None:
            raise VerifyError("unknown signing key", "unknown_key")
    rsa.check_peer_key(key, min_bits, max_bits)
    if len(s.sigfield) < key.size:
        raise VerifyError("signature truncated", "signature")
    if not rsa.verify_digest(key, _digest(m.raw, m.sig, src, dst), s.sigfield[:key.size], "sha1"):
        raise VerifyError("bad signature", "signature")
    return Verified(sec, key, bytes(kh), s.timestamp, s.nonce)


def verify(m, src, dst, now, timestamps=None, known=None, nonce=None, solicitation=False,
           min_bits=1024, max_bits=2048):
    """Verify a parsed ND message m (an ndopt.Message) from src to dst: check_fresh (cheap,
    first), then check_signature, then the timestamp cache learns the message. Returns
    Verified; raises VerifyError (its code says which check failed)."""
    s = Signed(m)
    check_fresh(s, src, now, timestamps, nonce, solicitation)
    v = check_signature(m, s, src, dst, known, min_bits, max_bits)
    if timestamps is not None:
        timestamps.accept(src, s.timestamp, now)
    return v
