import { ApiProperty } from '@nestjs/swagger';

export class CacheLimitsDto {
  @ApiProperty({ description: 'Most bytes the cache may hold (cacheSize)' })
  maxBytes!: number;

  @ApiProperty({ description: 'Fraction of the cache disk kept free (cacheMinFreeRatio)' })
  minFreeRatio!: number;
}

export class DiskSpaceDto {
  @ApiProperty()
  freeBytes!: number;

  @ApiProperty()
  totalBytes!: number;
}

export class CacheStatsDto {
  @ApiProperty()
  usedBytes!: number;

  @ApiProperty({ description: 'Evictable bytes (already in Tahoe)' })
  cleanBytes!: number;

  @ApiProperty({ description: 'Bytes not yet uploaded; never evicted' })
  dirtyBytes!: number;

  @ApiProperty({ description: 'Files with cached blocks' })
  files!: number;

  @ApiProperty({ description: 'Files with dirty blocks' })
  dirtyFiles!: number;

  @ApiProperty()
  blocks!: number;

  @ApiProperty()
  blockSize!: number;

  @ApiProperty()
  hits!: number;

  @ApiProperty()
  misses!: number;

  @ApiProperty({ type: Number, nullable: true, description: 'hits / (hits + misses); null before the first read' })
  hitRatio!: number | null;

  @ApiProperty()
  evictions!: number;

  @ApiProperty({ type: CacheLimitsDto })
  limits!: CacheLimitsDto;

  @ApiProperty({ type: DiskSpaceDto, nullable: true, description: 'The disk holding the cache' })
  disk!: DiskSpaceDto | null;
}

export class EvictResultDto {
  @ApiProperty({ description: 'Bytes of clean blocks dropped' })
  freedBytes!: number;

  @ApiProperty({ description: 'Files whose clean blocks were dropped (all files: 0, not counted)' })
  files!: number;

  @ApiProperty({ description: 'Dirty bytes left in place (dirty data is never dropped)' })
  dirtyBytesKept!: number;
}
