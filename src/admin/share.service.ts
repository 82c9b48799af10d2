import { Injectable, Logger } from '@nestjs/common';
import { MetadataStore } from '../metadata/metadata.store';
import { type InodeRecord, ROOT_INO } from '../metadata/metadata.types';
import { readOnlyCapOf } from '../tahoe/cap.util';
import { AdminError } from './admin.errors';
import type { ShareDto, ShareRequestDto } from './dto/share.dto';
import { FsLookupService } from './fs-lookup.service';

/**
 * Sharing by cap, the way Tahoe shares data: the read-only (or, for a directory, the write) cap of a file or
 * directory. The caller has already been checked for the cap-revealing token. The share is logged as an event,
 * without the cap.
 */
@Injectable()
export class ShareService {
  private readonly logger = new Logger('Share');

  constructor(
    private readonly store: MetadataStore,
    private readonly lookup: FsLookupService,
  ) {}

  async share(request: ShareRequestDto): Promise<ShareDto> {
    const inode =
      request.path !== undefined
        ? await this.lookup.resolve(request.path)
        : await this.lookup.inode(request.ino ?? ROOT_INO);
    if (inode.type !== 'file' && inode.type !== 'dir') {
      throw new AdminError(
        'CAP_UNAVAILABLE',
        `inode ${inode.ino} is a ${inode.type}: only files and directories have a Tahoe cap of their own`,
      );
    }
    const writeCap = await this.writeCapOf(inode);
    if (writeCap === null) {
      throw new AdminError(
        'CAP_UNAVAILABLE',
        `inode ${inode.ino} has not reached Tahoe yet: flush it (riverfs flush) and share it again`,
      );
    }
    const wantWrite = request.write === true;
    if (wantWrite && inode.type !== 'dir') {
      throw new AdminError(
        'CAP_UNAVAILABLE',
        `inode ${inode.ino} is a file: Tahoe files are immutable and have only a read cap (omit "write")`,
      );
    }
    const cap = wantWrite ? writeCap : (inode.readCap ?? readOnlyCapOf(writeCap));
    const current = !(inode.dataDirty || inode.attrDirty || inode.entriesDirty);
    this.logger.log({
      msg: `shared the ${wantWrite ? 'write' : 'read'} cap of inode ${inode.ino}${request.path ? ` (${request.path})` : ''}`,
      event: 'share',
      ino: inode.ino,
      path: request.path,
      capKind: wantWrite ? 'write' : 'read',
    });
    return { ino: inode.ino, type: inode.type, capKind: wantWrite ? 'write' : 'read', cap, current };
  }

  /** The root's cap lives in the filesystem settings until the inode row has it. */
  private async writeCapOf(inode: InodeRecord): Promise<string | null> {
    if (inode.writeCap !== null || inode.ino !== ROOT_INO) {
      return inode.writeCap;
    }
    return (await this.store.getSettings()).rootCap;
  }
}
