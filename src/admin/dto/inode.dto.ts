import { InodeCheckDto } from './check.dto';
import { SyncQueueItemDto } from './sync.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { INODE_TYPES, SYNC_STATES } from '../../metadata/metadata.types';
import { IsFsPath, ToBoolean, ToInteger } from '../../http/validation.util';

export class InodeParamsDto {
  @ApiProperty({ description: 'Inode number (the root is 1)', example: 1, minimum: 1 })
  @ToInteger()
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  ino!: number;
}

export class RevealQueryDto {
  @ApiPropertyOptional({
    description: 'Show caps unredacted; needs the cap-revealing token (403 with the plain admin token)',
    default: false,
  })
  @IsOptional()
  @ToBoolean()
  @IsBoolean()
  reveal?: boolean;
}

export class InodeByPathQueryDto extends RevealQueryDto {
  @ApiProperty({
    description: 'Absolute path inside the filesystem; no ".", ".." or empty segments, no NUL',
    example: '/projects/report.txt',
  })
  @IsFsPath()
  path!: string;
}

export class ChildrenQueryDto {
  @ApiPropertyOptional({ description: 'Continue after this cookie (the `next` of the previous page)', minimum: 0 })
  @IsOptional()
  @ToInteger()
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  after?: number;

  @ApiPropertyOptional({ description: 'Entries per page', minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @ToInteger()
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class TimespecDto {
  @ApiProperty({ description: 'Whole seconds since the epoch' })
  sec!: number;

  @ApiProperty({ description: 'Nanoseconds, 0 ≤ nsec < 1e9' })
  nsec!: number;

  @ApiProperty({ description: 'ISO 8601 (millisecond precision)', example: '2026-11-24T12:00:00.000Z' })
  iso!: string;
}

export class InodeTimesDto {
  @ApiProperty({ type: TimespecDto })
  atime!: TimespecDto;

  @ApiProperty({ type: TimespecDto })
  mtime!: TimespecDto;

  @ApiProperty({ type: TimespecDto })
  ctime!: TimespecDto;
}

/** The inode's work in the sync worker, at a glance. */
export const INODE_WORKER_STATES = ['idle', 'pending', 'running', 'failed', 'unavailable'] as const;
export type InodeWorkerState = (typeof INODE_WORKER_STATES)[number];

export class InodeSyncWorkerDto {
  @ApiProperty({
    enum: INODE_WORKER_STATES,
    description:
      'failed: a task failed and waits for its retry; else running: a task runs now; else pending: queued; ' +
      'idle: nothing queued; unavailable: this gateway has no sync worker',
  })
  state!: InodeWorkerState;

  @ApiProperty({
    type: [SyncQueueItemDto],
    description:
      "The inode's items in the sync worker's queue, at most one per kind (as GET /admin/sync/queue shows them)",
  })
  tasks!: SyncQueueItemDto[];
}

export class InodeSyncDto {
  @ApiProperty({ enum: SYNC_STATES, description: 'Where the inode stands with respect to Tahoe' })
  state!: string;

  @ApiProperty({ description: 'File content differs from what Tahoe holds' })
  dataDirty!: boolean;

  @ApiProperty({ description: 'Attributes in edge metadata differ from Tahoe' })
  attrDirty!: boolean;

  @ApiProperty({ description: "Directory entries differ from the dirnode's children" })
  entriesDirty!: boolean;

  @ApiProperty({ type: String, nullable: true, description: 'When it first became dirty (ISO 8601)' })
  dirtySince!: string | null;

  @ApiProperty({ type: Number, nullable: true, description: 'contentVersion the synced caps were made from' })
  syncedContentVersion!: number | null;

  @ApiProperty({ type: String, nullable: true, description: 'Directories: when Tahoe was last listed (ISO 8601)' })
  listedAt!: string | null;

  @ApiProperty({ type: InodeSyncWorkerDto })
  worker!: InodeSyncWorkerDto;

  @ApiProperty({
    description: 'Failed attempts to push it since its last success (kept on the inode: survives restarts)',
  })
  tries!: number;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Why the last attempt to push it failed, caps redacted; null since its last success (kept on the inode)',
  })
  lastError!: string | null;
}

export class BlockRunDto {
  @ApiProperty()
  first!: number;

  @ApiProperty()
  last!: number;

  @ApiProperty({ enum: ['clean', 'dirty'] })
  state!: string;
}

export class InodeCacheDto {
  @ApiProperty()
  blockSize!: number;

  @ApiProperty({ description: 'Blocks the file has (ceil(size / blockSize))' })
  blockCount!: number;

  @ApiProperty()
  cachedBlocks!: number;

  @ApiProperty()
  dirtyBlocks!: number;

  @ApiProperty()
  cachedBytes!: number;

  @ApiProperty({ description: 'Bytes not yet uploaded; never evicted' })
  dirtyBytes!: number;

  @ApiProperty({ type: [BlockRunDto], description: 'Runs of cached blocks; blocks not listed are not cached' })
  runs!: BlockRunDto[];

  @ApiProperty()
  runsTruncated!: boolean;
}

export class InodeCapsDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Strongest cap last synced; redacted (URI:KIND:<redacted:…>) unless revealed',
  })
  writeCap!: string | null;

  @ApiProperty({ type: String, nullable: true })
  readCap!: string | null;

  @ApiProperty()
  revealed!: boolean;
}

export class InodeDto {
  @ApiProperty({ example: 42 })
  ino!: number;

  @ApiProperty({ enum: INODE_TYPES })
  type!: string;

  @ApiProperty({ description: 'Permission bits', example: 420 })
  mode!: number;

  @ApiProperty({ example: '0644' })
  modeOctal!: string;

  @ApiProperty()
  uid!: number;

  @ApiProperty()
  gid!: number;

  @ApiProperty()
  size!: number;

  @ApiProperty()
  nlink!: number;

  @ApiProperty()
  rdev!: number;

  @ApiProperty({ type: Number, nullable: true, description: 'Directories: the parent directory' })
  parent!: number | null;

  @ApiProperty()
  contentVersion!: number;

  @ApiProperty({ type: InodeTimesDto })
  times!: InodeTimesDto;

  @ApiProperty({ type: [String], description: 'Every path the inode is linked under', example: ['/a/b.txt'] })
  paths!: string[];

  @ApiProperty({ description: 'False when the name search stopped at its budget before finding every link' })
  pathsComplete!: boolean;

  @ApiProperty({ type: InodeSyncDto })
  sync!: InodeSyncDto;

  @ApiProperty({ type: InodeCacheDto, nullable: true, description: 'Regular files only' })
  cache!: InodeCacheDto | null;

  @ApiProperty({ type: InodeCapsDto })
  caps!: InodeCapsDto;

  @ApiProperty({
    type: InodeCheckDto,
    nullable: true,
    description: 'The last check of its shares in Tahoe by this gateway since it started (riverfs check), if any',
  })
  check!: InodeCheckDto | null;
}

export class ChildEntryDto {
  @ApiProperty({ description: 'The name as UTF-8 (U+FFFD where the stored bytes are not UTF-8)' })
  name!: string;

  @ApiPropertyOptional({ description: 'The exact name bytes, base64, when they are not valid UTF-8' })
  nameBase64?: string;

  @ApiProperty()
  ino!: number;

  @ApiProperty({ enum: INODE_TYPES })
  type!: string;

  @ApiProperty({ description: 'Position in the directory: pass as `after` to continue from here' })
  cookie!: number;

  @ApiProperty()
  size!: number;

  @ApiProperty()
  mode!: number;

  @ApiProperty()
  nlink!: number;

  @ApiProperty({ enum: SYNC_STATES })
  syncState!: string;
}

export class ChildrenPageDto {
  @ApiProperty({ description: 'The directory' })
  ino!: number;

  @ApiProperty({ type: [ChildEntryDto] })
  entries!: ChildEntryDto[];

  @ApiProperty({ type: Number, nullable: true, description: 'Cookie for the next page; null at the end' })
  next!: number | null;
}
