"""
A random data checker for one file on a RiverFS mount: writes, mmap writes, truncates up and down, fallocate
(extend) and punch holes (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), each step through a descriptor opened and
closed for it (every close lets an upload start), with the whole file read back through a fresh descriptor and
compared with an in-memory model after every step. Clean cached data can be evicted between steps through the admin
API, so that reads must come from Tahoe or from what a truncate or a punched hole left.

Usage: random-file-workload.py FILE SEED STEPS [--max-size BYTES] [--max-op BYTES] [--block BYTES]
                                [--admin URL --token-file PATH --evict-ratio R] [--model-out PATH]

Prints one JSON object per line: {"seed": ...} first, then {"done": ..., "sha256": ..., "size": ...}; on the first
mismatch {"mismatch": ...} with the step history, and exits 1. The same SEED replays the same steps.
"""

import argparse
import ctypes
import ctypes.util
import hashlib
import json
import mmap
import os
import random
import sys
import time
import urllib.parse
import urllib.request

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]


def fallocate(fd, mode, offset, length):
    if libc.fallocate(fd, mode, offset, length) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def emit(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def bad_ranges(got, model):
    """Where `got` differs from the model: up to 8 ranges (hex), each saying whether it read as zeros."""
    common = min(len(got), len(model))
    ranges = []
    position = 0
    while position < common and len(ranges) < 8:
        if got[position] == model[position]:
            position += 1
            continue
        start = position
        end = position
        # A random byte of the model equals the stale one now and then: a short agreement does not end the range.
        while position < common and position - end < 64:
            if got[position] != model[position]:
                end = position + 1
            position += 1
        ranges.append([hex(start), hex(end), "zeros" if not any(got[start:end]) else "bytes"])
    return ranges


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("seed", type=int)
    parser.add_argument("steps", type=int)
    parser.add_argument("--max-size", type=int, default=8 << 20)
    parser.add_argument("--max-op", type=int, default=2 << 20)
    parser.add_argument("--block", type=int, default=1 << 20)
    parser.add_argument("--admin")
    parser.add_argument("--token-file")
    parser.add_argument("--evict-ratio", type=float, default=0.0)
    parser.add_argument("--settle-ratio", type=float, default=0.0)
    parser.add_argument("--mount-path", default="/checked.bin")
    parser.add_argument("--model-out")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    model = bytearray()
    history = []
    emit({"seed": args.seed, "steps": args.steps})
    os.close(os.open(args.file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))

    def admin(method, path, body=None):
        token = open(args.token_file).read().strip()
        request = urllib.request.Request(
            args.admin + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def evict():
        admin("POST", "/admin/cache/evict", {})

    def settle():
        """Until the file's last content is in Tahoe: the upload that follows a truncate ends between two steps."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            inode = admin("GET", "/admin/inodes?path=" + urllib.parse.quote(args.mount_path))
            sync = inode.get("sync") or {}
            if sync.get("dataDirty") is False and sync.get("syncedContentVersion") is not None:
                return
            time.sleep(0.05)  # Polling the admin API with a deadline, not a guess at how long an upload takes.
        raise RuntimeError("the file was not synced within 60 s")

    def position(limit):
        """A position up to `limit`, often on or near a block boundary (where dropped blocks begin)."""
        if rng.random() < 0.5:
            boundary = rng.randrange(0, limit // args.block + 1) * args.block
            return max(0, min(limit, boundary + rng.choice([0, 0, 0, -1, 1, rng.randrange(-4096, 4096)])))
        return rng.randrange(0, limit + 1)

    def length(start):
        return min(rng.randrange(1, args.max_op + 1), args.max_size - start)

    for step in range(args.steps):
        kind = rng.choices(
            ["write", "mmap", "truncate", "fallocate", "punch"],
            weights=[30, 15, 25, 15, 15],
        )[0]
        size = len(model)
        if kind == "mmap" and size == 0:
            kind = "write"
        if kind == "write":
            start = position(args.max_size - 1)
            data = rng.randbytes(length(start))
            fd = os.open(args.file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                os.pwrite(fd, data, start)
            finally:
                os.close(fd)
            end = start + len(data)
            if end > len(model):
                model.extend(bytes(end - len(model)))
            model[start:end] = data
            history.append([step, kind, start, len(data)])
        elif kind == "mmap":
            start = position(size - 1)
            data = rng.randbytes(min(length(start), size - start))
            fd = os.open(args.file, os.O_RDWR)
            try:
                with mmap.mmap(fd, size) as mapped:
                    mapped[start : start + len(data)] = data
                    mapped.flush()
            finally:
                os.close(fd)
            model[start : start + len(data)] = data
            history.append([step, kind, start, len(data)])
        elif kind == "truncate":
            new_size = position(args.max_size)
            if rng.random() < 0.5:
                os.truncate(args.file, new_size)
            else:
                fd = os.open(args.file, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    os.ftruncate(fd, new_size)
                finally:
                    os.close(fd)
            if new_size < len(model):
                del model[new_size:]
            else:
                model.extend(bytes(new_size - len(model)))
            history.append([step, kind, new_size])
        elif kind == "fallocate":
            start = position(args.max_size - 1)
            count = length(start)
            fd = os.open(args.file, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fallocate(fd, 0, start, count)
            finally:
                os.close(fd)
            if start + count > len(model):
                model.extend(bytes(start + count - len(model)))
            history.append([step, kind, start, count])
        else:
            if size == 0:
                history.append([step, "punch-skipped"])
            else:
                start = position(size - 1)
                count = length(start)
                fd = os.open(args.file, os.O_RDWR)
                try:
                    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, count)
                finally:
                    os.close(fd)
                end = min(start + count, len(model))
                model[start:end] = bytes(end - start)
                history.append([step, kind, start, count])

        if args.settle_ratio > 0 and rng.random() < args.settle_ratio:
            settle()
            history.append([step, "settled"])
        if args.evict_ratio > 0 and rng.random() < args.evict_ratio:
            evict()
            history.append([step, "evict"])

        with open(args.file, "rb") as reader:
            got = reader.read()
        if got != model:
            emit({"mismatch": {"seed": args.seed, "step": step, "size": len(got), "expected_size": len(model),
                               "bad": bad_ranges(got, model), "history": history[-12:]}})
            sys.exit(1)

    if args.model_out:
        with open(args.model_out, "wb") as out:
            out.write(model)
    emit({"done": args.steps, "size": len(model), "sha256": hashlib.sha256(model).hexdigest()})


if __name__ == "__main__":
    main()
