// See mpi.h. Only the opaque mbedtls_mpi calls (init, read_binary, exp_mod,
// write_binary, free): the same code builds on mbedTLS 2.28 (Debian) and 3.x
// (ESP-IDF 5), whose struct fields are private.
#include <string.h>

#include "mbedtls/bignum.h"

#include "mpi.h"

int fmipkey_mpi_modexp(const uint8_t *base, size_t base_len,
    const uint8_t *exp, size_t exp_len,
    const uint8_t *mod, size_t mod_len,
    uint8_t *out, size_t out_len) {
    mbedtls_mpi b, e, n, r;
    mbedtls_mpi_init(&b);
    mbedtls_mpi_init(&e);
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&r);
    int ret = mbedtls_mpi_read_binary(&b, base, base_len);
    if (ret == 0) {
        ret = mbedtls_mpi_read_binary(&e, exp, exp_len);
    }
    if (ret == 0) {
        ret = mbedtls_mpi_read_binary(&n, mod, mod_len);
    }
    if (ret == 0) {
        // no cached R^2 mod N: each call may use another modulus (CRT halves, blinding)
        ret = mbedtls_mpi_exp_mod(&r, &b, &e, &n, NULL);
    }
    if (ret == 0) {
        ret = mbedtls_mpi_write_binary(&r, out, out_len);
    }
    if (ret != 0) {
        memset(out, 0, out_len);
    }
    mbedtls_mpi_free(&b);
    mbedtls_mpi_free(&e);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&r);
    return ret;
}
