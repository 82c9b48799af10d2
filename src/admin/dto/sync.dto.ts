import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ToInteger } from '../../http/validation.util';

export class SyncQueueQueryDto {
  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @ToInteger()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  offset?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @ToInteger()
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class SyncQueueItemDto {
  @ApiProperty()
  ino!: number;

  @ApiProperty({ example: 'upload', description: 'upload (file data), publish (a dirnode), pull (a remote change)' })
  kind!: string;

  @ApiProperty({ enum: ['pending', 'running', 'failed'] })
  state!: string;

  @ApiProperty()
  tries!: number;

  @ApiProperty({ description: 'When the item entered its state (ISO 8601)' })
  since!: string;

  @ApiProperty({ type: String, nullable: true, description: 'Caps redacted' })
  lastError!: string | null;

  @ApiProperty({ type: Number, nullable: true, description: 'Bytes to upload, when known' })
  bytes!: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: "When it runs next (ISO 8601): a waiting item's due time, a failed one's retry; null while running",
  })
  nextAttemptAt!: string | null;
}

export class SyncQueueDto {
  @ApiProperty({ type: [SyncQueueItemDto] })
  items!: SyncQueueItemDto[];

  @ApiProperty()
  total!: number;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'number' },
    description: 'Items waiting or running, by kind',
    example: { upload: 3, publish: 1 },
  })
  depth!: Record<string, number>;

  @ApiProperty({ type: Number, nullable: true })
  oldestDirtyAgeSeconds!: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'When the last scan of the journal for dirty inodes began (ISO 8601). Namespace changes reach the queue through ' +
      'that scan: an empty queue with a scan begun after a change means the change is in Tahoe (except names Tahoe ' +
      'cannot hold, which wait for a rename).',
  })
  scannedAt!: string | null;
}
