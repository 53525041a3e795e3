"""``openat2(2)`` through ctypes: the one syscall every path inside an untrusted tree goes through.

``RESOLVE_IN_ROOT`` makes the kernel treat the directory descriptor as ``/`` for the whole lookup:
``..`` stops at it and absolute symlinks restart at it, atomically, so a tree that changes while we
look (a container swapping a directory for a symlink) cannot lead the lookup out. Python has no
binding of its own (3.11); the call is syscall 437 on x86_64 and aarch64 alike.
"""

from __future__ import annotations

import ctypes
import errno
import os

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
# Every lookup refuses /proc/self/fd-style magic links: they jump anywhere, whatever the root.
IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
# One component below a directory already open, no symlink followed: the walker's step.
STEP = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS

_SYS_OPENAT2 = 437
# The kernel answers EAGAIN under RESOLVE_IN_ROOT when a rename raced the lookup; it asks for a retry.
_RETRIES = 64


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = IN_ROOT) -> int:
    """A new descriptor for ``path`` looked up from ``dirfd`` under ``resolve``; OSError on failure."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & (os.O_CREAT | os.O_TMPFILE) else 0, resolve)
    raw = os.fsencode(path or ".")
    for _ in range(_RETRIES):
        fd = _syscall(_SYS_OPENAT2, ctypes.c_int(dirfd), ctypes.c_char_p(raw), ctypes.byref(how),
                      ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            raise OSError(err, os.strerror(err), path)
    raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), path)
