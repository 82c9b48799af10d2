"""A process that takes file locks when told to: one command per line on stdin, one JSON reply per line.

open PATH [ro] | setlk r|w|u START LEN | setlkw r|w|u START LEN | getlk r|w START LEN | flock sh|ex|un [nb] | close
Replies {"ok": true, ...} or {"ok": false, "errno": "EAGAIN"}; getlk adds type/start/len/pid, open adds pid.
SIGUSR1 during a blocking command makes it fail with "EINTR" (as Ctrl-C would end it); send it only then.
"""
import errno
import fcntl
import json
import os
import signal
import struct
import sys


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    # Raising makes the interrupted call fail instead of being restarted (PEP 475).
    raise Interrupted()


signal.signal(signal.SIGUSR1, on_signal)

TYPES = {'r': fcntl.F_RDLCK, 'w': fcntl.F_WRLCK, 'u': fcntl.F_UNLCK}
NAMES = {fcntl.F_RDLCK: 'r', fcntl.F_WRLCK: 'w', fcntl.F_UNLCK: 'u'}
FORMAT = 'hhqqi'
f = None


def reply(**fields):
    print(json.dumps(fields), flush=True)


for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    try:
        op = words[0]
        if op == 'open':
            f = open(words[1], 'r' if words[2:] == ['ro'] else 'r+')
            reply(ok=True, pid=os.getpid())
        elif op in ('setlk', 'setlkw', 'getlk'):
            query = struct.pack(FORMAT, TYPES[words[1]], os.SEEK_SET, int(words[2]), int(words[3]), 0)
            command = {'setlk': fcntl.F_SETLK, 'setlkw': fcntl.F_SETLKW, 'getlk': fcntl.F_GETLK}[op]
            answer = fcntl.fcntl(f, command, query)
            if op == 'getlk':
                kind, _, start, length, pid = struct.unpack(FORMAT, answer)
                reply(ok=True, type=NAMES[kind], start=start, len=length, pid=pid)
            else:
                reply(ok=True)
        elif op == 'flock':
            how = {'sh': fcntl.LOCK_SH, 'ex': fcntl.LOCK_EX, 'un': fcntl.LOCK_UN}[words[1]]
            if len(words) > 2 and words[2] == 'nb':
                how |= fcntl.LOCK_NB
            fcntl.flock(f, how)
            reply(ok=True)
        elif op == 'close':
            f.close()
            f = None
            reply(ok=True)
        else:
            reply(ok=False, errno='EINVAL')
    except Interrupted:
        reply(ok=False, errno='EINTR')
    except OSError as error:
        reply(ok=False, errno=errno.errorcode.get(error.errno, str(error.errno)))
