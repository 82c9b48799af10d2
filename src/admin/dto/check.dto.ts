import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';
import { WaitableTargetDto } from './target.dto';

export class CheckRequestDto extends WaitableTargetDto {
  @ApiPropertyOptional({ description: 'Repair what is not healthy (a write to the grid)', default: false })
  @IsOptional()
  @IsBoolean()
  repair?: boolean;

  @ApiPropertyOptional({ description: 'For a directory: also everything below it', default: false })
  @IsOptional()
  @IsBoolean()
  deep?: boolean;
}

/** The last check of an inode's cap, as kept in the metadata database. */
export class InodeCheckDto {
  @ApiProperty()
  checkedAt!: string;

  @ApiProperty({ description: 'Every share found, on enough servers' })
  healthy!: boolean;

  @ApiProperty({ description: 'Enough shares for the data to be read' })
  recoverable!: boolean;

  @ApiProperty({ description: 'Distinct good shares found (after a repair, if one ran)' })
  sharesGood!: number;

  @ApiProperty({ description: 'Shares needed to read it (k)' })
  sharesNeeded!: number;

  @ApiProperty({ description: 'Shares it was written with (N)' })
  sharesExpected!: number;

  @ApiProperty({ description: 'Servers holding good shares' })
  servers!: number;

  @ApiProperty({ description: 'A repair ran and succeeded' })
  repaired!: boolean;

  @ApiProperty({ type: String, nullable: true, description: "Tahoe's summary, or why the check failed" })
  summary!: string | null;
}

export class CheckCountsDto {
  @ApiProperty({ description: 'Inodes whose last check found shares missing' })
  unhealthy!: number;

  @ApiProperty({ description: 'Inodes whose last check found too few shares to read them' })
  unrecoverable!: number;

  @ApiProperty({ description: 'Inodes with a check result (each keeps its last)' })
  checked!: number;
}
