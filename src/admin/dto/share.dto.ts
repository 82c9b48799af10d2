import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional } from 'class-validator';
import { TargetDto } from './target.dto';

/** What to share: a path or an inode (one of them), and whether the write cap is wanted. */
export class ShareRequestDto extends TargetDto {
  @ApiPropertyOptional({
    description:
      'Answer the write cap (a directory only: a file is immutable in Tahoe) instead of the read-only cap: whoever ' +
      'holds it can change the tree',
    default: false,
  })
  @IsOptional()
  @IsBoolean()
  write?: boolean;
}

export class ShareDto {
  @ApiProperty({ example: 42 })
  ino!: number;

  @ApiProperty({ enum: ['file', 'dir'] })
  type!: 'file' | 'dir';

  @ApiProperty({ enum: ['read', 'write'], description: 'Which cap `cap` is' })
  capKind!: 'read' | 'write';

  @ApiProperty({ description: 'The Tahoe cap, unredacted: a secret, hand it only to whom the data is for' })
  cap!: string;

  @ApiProperty({
    description:
      'False when the inode has local changes not yet in Tahoe: the cap shows the last version that reached it ' +
      '(flush first to share the current one)',
  })
  current!: boolean;
}
