# Modular exponentiation in the router's own mbedTLS (libmbedcrypto, installed with
# OpenWrt's micropython-mbedtls), called through the unix port's `ffi` module: RSA's whole
# cost is here, and C does it 10x faster than MicroPython's pow. Only the mbedtls_mpi_*
# calls are used. The layout of struct mbedtls_mpi changed between 2.28 and 3.6, so each
# number lives in storage only mbedTLS reads: init, read_binary, exp_mod, write_binary, free.
import ffi

from fmipkey.errors import CryptoError

# unversioned (a -dev install), 3.6 (OpenWrt 24.10 and later), 2.28 (Debian 12)
LIBS = ("libmbedcrypto.so", "libmbedcrypto.so.16", "libmbedcrypto.so.7")
_MPI = 64  # octets per mbedtls_mpi: it needs 16 (3.x) or 24 (2.28) on a 64-bit host


def load():
    """(powmod, library name) over the first of LIBS that opens, or None when none does."""
    lib = name = None
    for name in LIBS:
        try:
            lib = ffi.open(name)
            break
        except OSError:
            pass
    if lib is None:
        return None
    try:  # a missing symbol raises OSError (ENOENT)
        init = lib.func("v", "mbedtls_mpi_init", "p")
        free = lib.func("v", "mbedtls_mpi_free", "p")
        read = lib.func("i", "mbedtls_mpi_read_binary", "pPL")
        write = lib.func("i", "mbedtls_mpi_write_binary", "ppL")
        exp_mod = lib.func("i", "mbedtls_mpi_exp_mod", "ppppp")
    except OSError:
        return None
    x, a, e, n = bytearray(_MPI), bytearray(_MPI), bytearray(_MPI), bytearray(_MPI)

    def powmod(base, exp, mod):
        if mod < 3 or not mod & 1 or exp < 0:
            return pow(base, exp, mod)  # mbedTLS takes odd moduli only; RSA never gets here
        k = (len("%x" % mod) + 1) // 2
        mpis = (x, a, e, n)
        for m in mpis:
            init(m)
        try:
            # base reduced first: exp_mod wants A < N on some versions
            for m, v in ((a, base % mod), (e, exp), (n, mod)):
                b = v.to_bytes((len("%x" % v) + 1) // 2, "big")
                if read(m, b, len(b)):
                    raise CryptoError("mbedtls_mpi_read_binary failed")
            rc = exp_mod(x, a, e, n, None)
            if rc:
                raise CryptoError("mbedtls_mpi_exp_mod failed: -0x%04x" % -rc)
            out = bytearray(k)
            if write(x, out, k):
                raise CryptoError("mbedtls_mpi_write_binary failed")
            return int.from_bytes(out, "big")
        finally:
            for m in mpis:
                free(m)  # zeroes the limbs: exponents are CRT secrets
    # a library whose calling convention differs from what ffi assumed gives wrong numbers,
    # not errors: check one answer before RSA trusts it
    if powmod(_CHECK[0], 65537, _CHECK[1]) != pow(_CHECK[0], 65537, _CHECK[1]):
        return None
    return powmod, name


_CHECK = (0x0123456789ABCDEF0123456789ABCDEF, (1 << 127) - 1)  # base, an odd modulus of two 64-bit limbs
