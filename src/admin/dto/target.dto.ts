import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { SYNC_DIRECTIONS, type SyncDirection } from '../sync-control';
import { IsFsPath, NotWith } from '../../http/validation.util';

/** What an operation applies to: a path, an inode, or (neither) everything. */
export class TargetDto {
  @ApiPropertyOptional({ description: 'Absolute path inside the filesystem', example: '/projects' })
  @IsOptional()
  @IsFsPath()
  @NotWith('ino')
  path?: string;

  @ApiPropertyOptional({ description: 'Inode number', minimum: 1, example: 42 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(Number.MAX_SAFE_INTEGER)
  ino?: number;
}

/** A target plus how long to wait: without `wait` the answer is the job (202); with it, the finished job (200). */
export class WaitableTargetDto extends TargetDto {
  @ApiPropertyOptional({ description: 'Answer only when the job has ended (or waitSeconds passed)', default: false })
  @IsOptional()
  @IsBoolean()
  wait?: boolean;

  @ApiPropertyOptional({
    description: 'With wait: the longest wait; a job still running then is answered with 202',
    minimum: 1,
    maximum: 3600,
    default: 300,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3600)
  waitSeconds?: number;
}

export class WarmupDto extends WaitableTargetDto {
  @ApiPropertyOptional({ description: 'For a directory: also the files of its subdirectories', default: true })
  @IsOptional()
  @IsBoolean()
  recursive?: boolean;
}

export class SyncDto extends WaitableTargetDto {
  @ApiPropertyOptional({
    enum: SYNC_DIRECTIONS,
    default: 'both',
    description:
      'push: upload dirty data and publish namespace changes; pull: fetch the listings of the directory tree ' +
      "(a file's directory) from Tahoe now, before their TTL, applying remote changes; both: push, then pull",
  })
  @IsOptional()
  @IsIn(SYNC_DIRECTIONS)
  direction?: SyncDirection;
}
