import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ToInteger } from '../../http/validation.util';
import { CacheStatsDto } from './cache.dto';

export class RecentErrorsQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @ToInteger()
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

export class RecentErrorDto {
  @ApiProperty()
  time!: string;

  @ApiProperty({ example: 'tahoe', description: 'http, tahoe, job (later also sync, fuse)' })
  source!: string;

  @ApiProperty({ example: 'TAHOE_UNAVAILABLE' })
  code!: string;

  @ApiProperty({ description: 'Caps redacted' })
  message!: string;

  @ApiPropertyOptional()
  correlationId?: string;
}

export class RecentErrorsDto {
  @ApiProperty({ description: 'Errors recorded since start' })
  total!: number;

  @ApiProperty({ type: [RecentErrorDto], description: 'Newest first' })
  errors!: RecentErrorDto[];
}

export class GridSummaryDto {
  @ApiProperty({ description: 'False when the Tahoe node could not be asked' })
  reachable!: boolean;

  @ApiProperty()
  happy!: boolean;

  @ApiProperty()
  connectedServers!: number;

  @ApiProperty()
  sharesHappy!: number;

  @ApiProperty()
  availableSpace!: number;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;
}

export class TotalsDto {
  @ApiProperty()
  tahoeRequests!: number;

  @ApiProperty()
  tahoeFailures!: number;

  @ApiProperty()
  tahoeBytesSent!: number;

  @ApiProperty()
  tahoeBytesReceived!: number;

  @ApiProperty()
  fuseOps!: number;

  @ApiProperty()
  fuseErrors!: number;

  @ApiProperty()
  syncFailures!: number;
}

export class SyncSummaryDto {
  @ApiProperty({ description: 'False until the sync worker exists' })
  available!: boolean;

  @ApiProperty({ type: Number, nullable: true, description: 'Items in the sync queue; null when unknown' })
  queued!: number | null;

  @ApiProperty({ type: Number, nullable: true })
  oldestDirtyAgeSeconds!: number | null;
}

export class MemoryStatsDto {
  @ApiProperty({ description: 'Resident set size of the gateway process' })
  rssBytes!: number;

  @ApiProperty({ description: 'JavaScript heap in use' })
  heapUsedBytes!: number;

  @ApiProperty({ description: 'Most the JavaScript heap may grow to (the maxHeap setting)' })
  heapLimitBytes!: number;
}

/** One answer with everything the dashboard shows, so it polls one route. */
export class StatsDto {
  @ApiProperty()
  time!: string;

  @ApiProperty()
  uptimeSeconds!: number;

  @ApiProperty()
  version!: string;

  @ApiProperty({ type: GridSummaryDto })
  grid!: GridSummaryDto;

  @ApiProperty({ type: CacheStatsDto })
  cache!: CacheStatsDto;

  @ApiProperty({ type: SyncSummaryDto })
  sync!: SyncSummaryDto;

  @ApiProperty({ type: MemoryStatsDto })
  memory!: MemoryStatsDto;

  @ApiProperty({ type: TotalsDto, description: 'Running totals; the dashboard derives throughput from two samples' })
  totals!: TotalsDto;

  @ApiProperty({ type: RecentErrorsDto })
  recentErrors!: RecentErrorsDto;
}
