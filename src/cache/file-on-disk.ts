import fs from 'node:fs/promises';

/**
 * Plain positional I/O on one cache file, which may be sparse: holes and bytes past its end read as zeros.
 * Opened lazily, closed by its owner (the handle pool) when it falls out of use.
 */
export class FileOnDisk {
  private handle: fs.FileHandle | undefined;
  private opening: Promise<fs.FileHandle> | undefined;

  constructor(readonly path: string) {}

  private async open(): Promise<fs.FileHandle> {
    if (this.handle) {
      return this.handle;
    }
    this.opening ??= fs.open(this.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600).then((handle) => {
      this.handle = handle;
      this.opening = undefined;
      return handle;
    });
    return this.opening;
  }

  /** Reads `length` bytes at `position` into `target` at `targetOffset`; what the file lacks is zero-filled. */
  async readInto(target: Buffer, targetOffset: number, length: number, position: number): Promise<void> {
    const handle = await this.open();
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(target, targetOffset + done, length - done, position + done);
      if (bytesRead === 0) {
        target.fill(0, targetOffset + done, targetOffset + length);
        return;
      }
      done += bytesRead;
    }
  }

  async write(source: Buffer, sourceOffset: number, length: number, position: number): Promise<void> {
    const handle = await this.open();
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await handle.write(source, sourceOffset + done, length - done, position + done);
      done += bytesWritten;
    }
  }

  async truncate(length: number): Promise<void> {
    const handle = await this.open();
    await handle.truncate(length);
  }

  async size(): Promise<number> {
    const handle = await this.open();
    return (await handle.stat()).size;
  }

  async datasync(): Promise<void> {
    if (this.handle) {
      await this.handle.datasync();
    }
  }

  async close(): Promise<void> {
    const handle = this.handle ?? (this.opening ? await this.opening : undefined);
    this.handle = undefined;
    if (handle) {
      await handle.close();
    }
  }
}
