// Modular exponentiation on mbedTLS bignums, with no MicroPython in sight: on
// ESP-IDF `mbedtls_mpi_exp_mod` runs on the RSA peripheral
// (CONFIG_MBEDTLS_HARDWARE_MPI), on a host on Debian's libmbedcrypto.
#ifndef FMIPKEY_MPI_H
#define FMIPKEY_MPI_H

#include <stddef.h>
#include <stdint.h>

// out = base^exp mod mod. All numbers are unsigned big-endian octet strings of
// any length (leading zeros allowed); out receives out_len octets, out_len >=
// the significant length of mod. mod must be odd (mbedTLS's Montgomery
// multiplication; every RSA modulus and prime is). Returns 0, or a negative
// mbedTLS error code (out is then left zeroed).
int fmipkey_mpi_modexp(const uint8_t *base, size_t base_len,
    const uint8_t *exp, size_t exp_len,
    const uint8_t *mod, size_t mod_len,
    uint8_t *out, size_t out_len);

#endif
