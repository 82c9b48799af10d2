import fs from 'node:fs';

/**
 * Plain positional I/O on one cache file, which may be sparse: holes and bytes past its end read as zeros.
 *
 * Reads and writes are synchronous on purpose. FUSE 2 sends a sequential writer's 128 KiB requests one at a time
 * and waits for each answer, so throughput is set by the latency of one request; a libuv thread-pool round trip
 * per write (two thread hops) cost more than the page-cache copy itself (profiled: the event loop was idle 63% of
 * a 1 GiB dd). Durability calls (fdatasync), which can wait on the disk, stay asynchronous.
 */
export class FileOnDisk {
  private fd: number | undefined;

  constructor(readonly path: string) {}

  private open(): number {
    this.fd ??= fs.openSync(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    return this.fd;
  }

  /** Reads `length` bytes at `position` into `target` at `targetOffset`; what the file lacks is zero-filled. */
  readInto(target: Buffer, targetOffset: number, length: number, position: number): Promise<void> {
    const fd = this.open();
    let done = 0;
    while (done < length) {
      const bytesRead = fs.readSync(fd, target, targetOffset + done, length - done, position + done);
      if (bytesRead === 0) {
        target.fill(0, targetOffset + done, targetOffset + length);
        break;
      }
      done += bytesRead;
    }
    return Promise.resolve();
  }

  write(source: Buffer, sourceOffset: number, length: number, position: number): Promise<void> {
    const fd = this.open();
    let done = 0;
    while (done < length) {
      done += fs.writeSync(fd, source, sourceOffset + done, length - done, position + done);
    }
    return Promise.resolve();
  }

  truncate(length: number): Promise<void> {
    fs.ftruncateSync(this.open(), length);
    return Promise.resolve();
  }

  size(): Promise<number> {
    return Promise.resolve(fs.fstatSync(this.open()).size);
  }

  async datasync(): Promise<void> {
    if (this.fd !== undefined) {
      const fd = this.fd;
      await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    }
  }

  close(): Promise<void> {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined;
      fs.closeSync(fd);
    }
    return Promise.resolve();
  }
}
