import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsUUID, Matches, Max, Min } from 'class-validator';
import { ToInteger } from '../../http/validation.util';
import { JOB_STATES } from '../jobs.service';

export class JobParamsDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('4')
  id!: string;
}

export class JobListQueryDto {
  @ApiPropertyOptional({ example: 'flush' })
  @IsOptional()
  @Matches(/^[a-z][a-z0-9-]{0,31}$/, { message: 'kind must be a job kind such as flush, sync or warmup' })
  kind?: string;

  @ApiPropertyOptional({ enum: JOB_STATES })
  @IsOptional()
  @IsIn(JOB_STATES)
  state?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @ToInteger()
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;
}

export class JobProgressDto {
  @ApiProperty()
  done!: number;

  @ApiProperty({ type: Number, nullable: true, description: 'Null while not known yet' })
  total!: number | null;

  @ApiProperty({ example: 'files' })
  unit!: string;

  @ApiProperty({ type: String, nullable: true })
  message!: string | null;
}

export class JobErrorDto {
  @ApiProperty({ example: 'TAHOE_UNAVAILABLE' })
  code!: string;

  @ApiProperty({ description: 'The HTTP status the error maps to', example: 503 })
  status!: number;

  @ApiProperty()
  message!: string;
}

export class JobDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'flush' })
  kind!: string;

  @ApiProperty({ enum: JOB_STATES })
  state!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'What the job was asked to do' })
  params!: Record<string, unknown>;

  @ApiProperty()
  createdAt!: string;

  @ApiProperty({ type: String, nullable: true })
  finishedAt!: string | null;

  @ApiProperty({ type: JobProgressDto })
  progress!: JobProgressDto;

  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, description: 'Summary once succeeded' })
  result!: Record<string, unknown> | null;

  @ApiProperty({ type: JobErrorDto, nullable: true })
  error!: JobErrorDto | null;
}
