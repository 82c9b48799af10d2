#!/usr/bin/env python3
"""What MinIO's server asks of the filesystem under its drive path, checked on a directory (a RiverFS mount in
test/e2e/minio-fs-requirements.e2e-spec.ts; by hand: python3 minio-fs-check.py DIR). Prints one line per check and
exits 1 at the first one that fails.

MinIO (xl-storage, as of its 2024/2025 releases) writes each object part to a temporary file opened with
O_DIRECT (falling back to buffered writes only when the open answers EINVAL), preallocates it with fallocate,
writes whole aligned blocks, fdatasyncs it, renames it into place (os.Rename of files, and of whole directories
under .minio.sys/tmp into the bucket), keeps xl.meta next to it, creates with O_EXCL, and removes empty parent
directories as it deletes. Small user.* extended attributes are used by its fs checks and by tools around it."""
import errno
import mmap
import os
import sys

BLOCK = 4096


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name} {detail}".rstrip())
        sys.exit(1)
    print(f"ok   {name}")


def aligned_buffer(size, fill):
    # O_DIRECT needs buffers aligned to the block size; an anonymous mmap is page-aligned.
    buffer = mmap.mmap(-1, size)
    buffer.write(bytes([fill]) * size)
    return buffer


def main(root):
    base = os.path.join(root, "minio-check")
    os.makedirs(os.path.join(base, ".minio.sys", "tmp"), exist_ok=True)
    tmp_dir = os.path.join(base, ".minio.sys", "tmp", "upload-1")
    os.mkdir(tmp_dir)

    # O_DIRECT: the open must succeed (MinIO then keeps using it), aligned writes and reads must work.
    part = os.path.join(tmp_dir, "part.1")
    try:
        fd = os.open(part, os.O_CREAT | os.O_WRONLY | os.O_EXCL | os.O_DIRECT, 0o644)
    except OSError as error:
        check("open O_DIRECT|O_EXCL", False, f"({errno.errorcode.get(error.errno, error.errno)})")
    check("open O_DIRECT|O_EXCL", True)
    size = 64 * BLOCK
    os.posix_fallocate(fd, 0, size)
    check("fallocate preallocates", os.fstat(fd).st_size == size)
    written = os.write(fd, aligned_buffer(size, 0x5A))
    check("aligned O_DIRECT write", written == size, f"wrote {written} of {size}")
    os.fdatasync(fd)
    check("fdatasync", True)
    os.close(fd)
    fd = os.open(part, os.O_RDONLY | os.O_DIRECT)
    readback = aligned_buffer(size, 0)
    read = os.readv(fd, [readback])
    os.close(fd)
    check("aligned O_DIRECT read back", read == size and readback[:] == bytes([0x5A]) * size)

    # O_EXCL on an existing name fails with EEXIST.
    try:
        os.close(os.open(part, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
        check("O_EXCL refuses an existing file", False)
    except FileExistsError:
        check("O_EXCL refuses an existing file", True)

    # xl.meta beside the data, written and fsync'd, then the whole directory renamed into the bucket.
    meta = os.path.join(tmp_dir, "xl.meta")
    with open(meta, "wb") as f:
        f.write(b"XL2 " + b"\x01" * 300)
        f.flush()
        os.fdatasync(f.fileno())
    bucket = os.path.join(base, "bucket")
    os.makedirs(bucket, exist_ok=True)
    final = os.path.join(bucket, "object")
    os.rename(tmp_dir, final)
    check("rename a directory into place", os.path.isdir(final) and not os.path.exists(tmp_dir))
    with open(os.path.join(final, "part.1"), "rb") as f:
        check("renamed data intact", f.read() == bytes([0x5A]) * size)

    # Overwrite by rename of a file over an existing one (atomic replace of xl.meta).
    new_meta = os.path.join(base, ".minio.sys", "tmp", "xl.meta.new")
    with open(new_meta, "wb") as f:
        f.write(b"XL2 " + b"\x02" * 500)
        os.fsync(f.fileno())
    os.rename(new_meta, os.path.join(final, "xl.meta"))
    with open(os.path.join(final, "xl.meta"), "rb") as f:
        check("rename a file over an existing one", f.read() == b"XL2 " + b"\x02" * 500)
    directory = os.open(final, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(directory)
    os.close(directory)
    check("fsync a directory", True)

    # Small user.* xattrs: set, read, list, replace, remove.
    os.setxattr(final, "user.minio.check", b"v1")
    os.setxattr(os.path.join(final, "xl.meta"), "user.etag", b"d41d8cd98f00b204e9800998ecf8427e")
    check("user xattr set and read", os.getxattr(final, "user.minio.check") == b"v1")
    check("user xattr listed", "user.etag" in os.listxattr(os.path.join(final, "xl.meta")))
    os.setxattr(final, "user.minio.check", b"v2", os.XATTR_REPLACE)
    check("user xattr replaced", os.getxattr(final, "user.minio.check") == b"v2")
    os.removexattr(final, "user.minio.check")
    try:
        os.getxattr(final, "user.minio.check")
        check("removed xattr gone (ENODATA)", False)
    except OSError as error:
        check("removed xattr gone (ENODATA)", error.errno == errno.ENODATA)

    # Delete: files, then empty parents, as MinIO's deleteFile walks up.
    for name in os.listdir(final):
        os.unlink(os.path.join(final, name))
    os.rmdir(final)
    try:
        os.rmdir(base)
        check("rmdir of a non-empty directory fails", False)
    except OSError as error:
        check("rmdir of a non-empty directory fails", error.errno == errno.ENOTEMPTY)
    check("empty after deletes", os.listdir(bucket) == [])
    print("all MinIO filesystem requirements met")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: minio-fs-check.py DIRECTORY", file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])
