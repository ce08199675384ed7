// fmipkey_hw: the MicroPython binding of mpi.c and rawip6.c. Thin: argument
// conversion and errors only. Used by fmipkey.crypto.backend (modexp) and
// fmipkey.net.esp32 (RawIP6).
//
//   modexp(base, exp, mod) -> int     base**exp % mod on mbedTLS; mod odd, all >= 0
//   RawIP6(ifname, addr[, prefix])    open raw IPv6 on "ap" (soft-AP) or "sta" with the CGA addr,
//                                     prefix (8 bytes) on-link (rawip6.h)
//     .recv() -> (packet, src_mac) or None
//     .send(packet)                   a whole IPv6 packet; OSError when lwIP refuses it
//     .mac() -> bytes                 .stats() -> (rx, rx_full, rx_big, tx, tx_error)
//     .close()                        select.poll() sees it readable while packets wait (and is
//                                     woken when one arrives);
//                                     one object at a time: a new one closes the old (soft reset)
#include <string.h>

#include "py/mperrno.h"
#include "py/objint.h"
#include "py/runtime.h"
#include "py/stream.h"

#include "mpi.h"

#if MICROPY_LONGINT_IMPL != MICROPY_LONGINT_IMPL_MPZ
#error "fmipkey_hw needs MICROPY_LONGINT_IMPL_MPZ"
#endif

// Octets that hold the non-negative int o: an upper bound (read_binary skips leading zeros).
static size_t int_octets(mp_obj_t o) {
    if (!mp_obj_is_int(o) || mp_obj_int_sign(o) < 0) {
        mp_raise_ValueError(MP_ERROR_TEXT("modexp takes non-negative ints"));
    }
    if (mp_obj_is_small_int(o)) {
        return sizeof(mp_int_t);
    }
    return (mpz_max_num_bits(&((mp_obj_int_t *)MP_OBJ_TO_PTR(o))->mpz) + 7) / 8;
}

static mp_obj_t fmipkey_hw_modexp(mp_obj_t base_in, mp_obj_t exp_in, mp_obj_t mod_in) {
    size_t lb = int_octets(base_in), le = int_octets(exp_in), ln = int_octets(mod_in);
    // one heap block for the three inputs and the result
    byte *buf = m_new(byte, lb + le + 2 * ln);
    byte *b = buf, *e = b + lb, *n = e + le, *r = n + ln;
    mp_obj_int_to_bytes(base_in, lb, b, true, false, true);
    mp_obj_int_to_bytes(exp_in, le, e, true, false, true);
    mp_obj_int_to_bytes(mod_in, ln, n, true, false, true);
    int ret = (ln > 0 && (n[ln - 1] & 1)) ? fmipkey_mpi_modexp(b, lb, e, le, n, ln, r, ln) : -1;
    mp_obj_t out = ret == 0 ? mp_obj_int_from_bytes_impl(true, ln, r) : MP_OBJ_NULL;
    m_del(byte, buf, lb + le + 2 * ln);
    if (out == MP_OBJ_NULL) {
        mp_raise_ValueError(MP_ERROR_TEXT("modexp: modulus must be odd"));
    }
    return out;
}
static MP_DEFINE_CONST_FUN_OBJ_3(fmipkey_hw_modexp_obj, fmipkey_hw_modexp);

#if FMIPKEY_HW_RAWIP6
#include "lwip/err.h"
#include "rawip6.h"

// The lwIP netif of "ap" or "sta": port code (netif_esp32.c on ESP-IDF).
struct netif *fmipkey_hw_netif(const char *name);
// rawip6's notify (the esp32 port's, mphalport.c), called in the tcpip task once a packet is
// queued: a FreeRTOS task notification, no MicroPython object touched. It ends the sleep
// (ulTaskNotifyTake, up to a tick) in which select.poll waits between two looks at the ring,
// so the daemon reads the packet now. Nothing has to run in the VM per packet, so nothing is
// scheduled: mp_sched_schedule alone would not end that sleep on esp32 (no
// MICROPY_SCHED_HOOK_SCHEDULED there; machine.Pin's IRQ adds this same wake-up).
void mp_hal_wake_main_task(void);

typedef struct {
    mp_obj_base_t base;
    bool open;
} rawip6_obj_t;

// The one open object. The core's state outlives a soft reset, which drops the
// object without closing it: a new RawIP6 closes whatever is open first. The
// pointer is only compared, never followed (it may be stale after a soft reset).
static rawip6_obj_t *owner;

static const mp_obj_type_t rawip6_type;

static void raise_lwip(int err) {
    int e = err == ERR_MEM ? MP_ENOMEM : err == ERR_BUF ? MP_ENOBUFS : err == ERR_RTE ? MP_EHOSTUNREACH
        : err == ERR_VAL ? MP_EINVAL : err == ERR_INPROGRESS ? MP_EALREADY : err == ERR_CONN ? MP_ENOTCONN : MP_EIO;
    mp_raise_OSError(e);
}

static mp_obj_t rawip6_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 2, 3, false);
    mp_buffer_info_t addr, prefix = {.buf = NULL, .len = 8};
    mp_get_buffer_raise(args[1], &addr, MP_BUFFER_READ);
    if (n_args == 3 && args[2] != mp_const_none) {
        mp_get_buffer_raise(args[2], &prefix, MP_BUFFER_READ);
    }
    if (addr.len != 16 || prefix.len != 8) {
        mp_raise_ValueError(MP_ERROR_TEXT("addr must be 16 bytes, prefix 8"));
    }
    struct netif *netif = fmipkey_hw_netif(mp_obj_str_get_str(args[0]));
    if (netif == NULL) {
        mp_raise_OSError(MP_ENODEV);
    }
    rawip6_obj_t *self = mp_obj_malloc(rawip6_obj_t, type);
    rawip6_close();
    owner = NULL;
    int err = rawip6_open(netif, addr.buf, prefix.buf, mp_hal_wake_main_task);
    if (err != 0) {
        raise_lwip(err);
    }
    self->open = true;
    owner = self;
    return MP_OBJ_FROM_PTR(self);
}

static rawip6_obj_t *opened(mp_obj_t self_in) {
    rawip6_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (!self->open || self != owner) {
        mp_raise_OSError(MP_EBADF);
    }
    return self;
}

static mp_obj_t py_rawip6_recv(mp_obj_t self_in) {
    opened(self_in);
    // only this task takes packets out, so the oldest one stays the oldest until rawip6_recv
    size_t n = rawip6_pending();
    if (n == 0) {
        return mp_const_none;
    }
    vstr_t v;
    vstr_init_len(&v, n);   // its size, not a slot's 1.5 KB: a fragmented heap may have no such block
    byte mac[6];
    v.len = rawip6_recv((byte *)v.buf, n, mac);
    mp_obj_t t[2] = {mp_obj_new_bytes_from_vstr(&v), mp_obj_new_bytes(mac, 6)};
    return mp_obj_new_tuple(2, t);
}
static MP_DEFINE_CONST_FUN_OBJ_1(rawip6_recv_obj, py_rawip6_recv);

static mp_obj_t py_rawip6_send(mp_obj_t self_in, mp_obj_t pkt_in) {
    opened(self_in);
    mp_buffer_info_t pkt;
    mp_get_buffer_raise(pkt_in, &pkt, MP_BUFFER_READ);
    int err = rawip6_send(pkt.buf, pkt.len);
    if (err != 0) {
        raise_lwip(err);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(rawip6_send_obj, py_rawip6_send);

static mp_obj_t py_rawip6_mac(mp_obj_t self_in) {
    opened(self_in);
    byte mac[6];
    rawip6_mac(mac);
    return mp_obj_new_bytes(mac, 6);
}
static MP_DEFINE_CONST_FUN_OBJ_1(rawip6_mac_obj, py_rawip6_mac);

static mp_obj_t py_rawip6_stats(mp_obj_t self_in) {
    struct rawip6_stats s;
    rawip6_get_stats(&s);
    mp_obj_t t[5] = {mp_obj_new_int_from_uint(s.rx), mp_obj_new_int_from_uint(s.rx_full),
                     mp_obj_new_int_from_uint(s.rx_big), mp_obj_new_int_from_uint(s.tx),
                     mp_obj_new_int_from_uint(s.tx_error)};
    (void)self_in;
    return mp_obj_new_tuple(5, t);
}
static MP_DEFINE_CONST_FUN_OBJ_1(rawip6_stats_obj, py_rawip6_stats);

static mp_obj_t py_rawip6_close(mp_obj_t self_in) {
    rawip6_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->open && self == owner) {
        rawip6_close();
        owner = NULL;
    }
    self->open = false;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(rawip6_close_obj, py_rawip6_close);

// select.poll support: readable while the ring holds a packet.
static mp_uint_t rawip6_ioctl(mp_obj_t self_in, mp_uint_t request, uintptr_t arg, int *errcode) {
    rawip6_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (request == MP_STREAM_POLL) {
        mp_uint_t ready = 0;
        bool open = self->open && self == owner;
        if ((arg & MP_STREAM_POLL_RD) && open && rawip6_pending()) {
            ready |= MP_STREAM_POLL_RD;
        }
        if ((arg & MP_STREAM_POLL_WR) && open) {
            ready |= MP_STREAM_POLL_WR;
        }
        return ready;
    }
    if (request == MP_STREAM_CLOSE) {
        py_rawip6_close(self_in);
        return 0;
    }
    *errcode = MP_EINVAL;
    return MP_STREAM_ERROR;
}

static const mp_stream_p_t rawip6_stream_p = {
    .ioctl = rawip6_ioctl,
};

static const mp_rom_map_elem_t rawip6_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_recv), MP_ROM_PTR(&rawip6_recv_obj) },
    { MP_ROM_QSTR(MP_QSTR_send), MP_ROM_PTR(&rawip6_send_obj) },
    { MP_ROM_QSTR(MP_QSTR_mac), MP_ROM_PTR(&rawip6_mac_obj) },
    { MP_ROM_QSTR(MP_QSTR_stats), MP_ROM_PTR(&rawip6_stats_obj) },
    { MP_ROM_QSTR(MP_QSTR_close), MP_ROM_PTR(&rawip6_close_obj) },
};
static MP_DEFINE_CONST_DICT(rawip6_locals, rawip6_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    rawip6_type,
    MP_QSTR_RawIP6,
    MP_TYPE_FLAG_NONE,
    make_new, rawip6_make_new,
    protocol, &rawip6_stream_p,
    locals_dict, &rawip6_locals
    );
#endif // FMIPKEY_HW_RAWIP6

static const mp_rom_map_elem_t fmipkey_hw_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_fmipkey_hw) },
    { MP_ROM_QSTR(MP_QSTR_modexp), MP_ROM_PTR(&fmipkey_hw_modexp_obj) },
    #if FMIPKEY_HW_RAWIP6
    { MP_ROM_QSTR(MP_QSTR_RawIP6), MP_ROM_PTR(&rawip6_type) },
    #endif
};
static MP_DEFINE_CONST_DICT(fmipkey_hw_globals, fmipkey_hw_globals_table);

const mp_obj_module_t fmipkey_hw_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&fmipkey_hw_globals,
};

MP_REGISTER_MODULE(MP_QSTR_fmipkey_hw, fmipkey_hw_module);
