import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';

export class RenewLeasesDto {
  @ApiPropertyOptional({ description: 'Answer only when the run has ended (or waitSeconds passed)', default: false })
  @IsOptional()
  @IsBoolean()
  wait?: boolean;

  @ApiPropertyOptional({ minimum: 1, maximum: 3600, default: 300 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3600)
  waitSeconds?: number;
}

export class LeaseRunDto {
  @ApiProperty({ description: 'When the run in progress began' })
  startedAt!: string;

  @ApiProperty({ description: 'Highest inode number handled so far (a restart resumes after it)' })
  cursor!: number;

  @ApiProperty()
  renewed!: number;

  @ApiProperty()
  failed!: number;
}

export class LeasesStatusDto {
  @ApiProperty({ description: 'Seconds between scheduled runs; 0: only on request' })
  intervalSeconds!: number;

  @ApiProperty({ type: LeaseRunDto, nullable: true, description: 'The run in progress (or cut by a restart)' })
  run!: LeaseRunDto | null;

  @ApiProperty({ type: String, nullable: true, description: 'When the last complete run ended' })
  lastCompleteAt!: string | null;

  @ApiProperty({ description: 'Caps the last complete run renewed' })
  lastCompleteRenewed!: number;

  @ApiProperty({ description: 'Caps the last complete run could not renew (too few servers hold them, or no answer)' })
  lastCompleteFailed!: number;

  @ApiProperty({ type: String, nullable: true, description: 'The job of the run in progress in this process' })
  jobId!: string | null;
}
