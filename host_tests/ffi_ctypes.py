"""MicroPython's `ffi` module (unix port, ports/unix/modffi.c) as far as the firmware uses it,
over CPython's ctypes, so the mbedTLS binding runs here against the real libmbedcrypto.
`sys.modules["ffi"] = ffi_ctypes` makes `import ffi` find it.

What modffi does and this copies: `open(name)` raises OSError when the library does not
load, `lib.func` when the symbol is missing; `lib.func(ret, name, args)` takes one type code per argument and for the result
(v void, b/B h/H i/I l/L q/Q integers, p/P pointers, s string); an argument that is None
passes NULL, an int passes itself, a str its bytes, any other object the address of its
buffer (writable for bytearray). Integer results come back as int, p as an address, s as str."""
import ctypes

INTS = {"b": ctypes.c_byte, "B": ctypes.c_ubyte, "h": ctypes.c_short, "H": ctypes.c_ushort,
        "i": ctypes.c_int, "I": ctypes.c_uint, "l": ctypes.c_long, "L": ctypes.c_ulong,
        "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong}
POINTERS = "pPs"


def _ctype(code):
    if code in INTS:
        return INTS[code]
    if code in POINTERS:
        return ctypes.c_void_p
    raise ValueError("ffi: unknown type code %r" % code)


def _arg(code, value):
    if value is None or code not in POINTERS:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return ctypes.cast(ctypes.c_char_p(value), ctypes.c_void_p)
    buf = memoryview(value).cast("B")
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))


class Function:
    def __init__(self, cfunc, ret, args):
        self.cfunc, self.ret, self.args = cfunc, ret, args
        cfunc.restype = None if ret == "v" else _ctype(ret)
        cfunc.argtypes = [_ctype(c) for c in args]

    def __call__(self, *values):
        if len(values) != len(self.args):
            raise TypeError("ffi: %d arguments, %d given" % (len(self.args), len(values)))
        r = self.cfunc(*[_arg(c, v) for c, v in zip(self.args, values)])
        if self.ret == "s":
            return ctypes.string_at(r).decode() if r else None
        if self.ret in "pP":
            return r or 0
        return r


class Library:
    def __init__(self, name):
        self.dll = ctypes.CDLL(name)  # OSError when it does not load, as ffi.open

    def func(self, ret, name, args):
        try:
            cfunc = getattr(self.dll, name)
        except AttributeError:
            raise OSError(2, "no symbol %s" % name)  # modffi: dlsym NULL -> OSError(ENOENT)
        return Function(cfunc, ret, args)


def open(name, flags=0):  # noqa: A001 -- the name modffi gives it
    return Library(name)
