import { ApiProperty } from '@nestjs/swagger';

export class GridServerDto {
  @ApiProperty({ example: 'v0-abcd…' })
  nodeId!: string;

  @ApiProperty()
  nickname!: string;

  @ApiProperty()
  connected!: boolean;

  @ApiProperty({ example: 'Connected to tcp:127.0.0.1:40000 via tcp' })
  connectionStatus!: string;

  @ApiProperty({ type: Number, nullable: true })
  availableSpace!: number | null;

  @ApiProperty({ type: String, nullable: true })
  version!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'When the server last sent data (ISO 8601)' })
  lastReceivedData!: string | null;
}

export class GridDto {
  @ApiProperty({ description: 'Enough servers connected for an upload to reach shares.happy' })
  happy!: boolean;

  @ApiProperty({ description: 'shares.happy: servers an upload must reach' })
  sharesHappy!: number;

  @ApiProperty()
  connectedServers!: number;

  @ApiProperty()
  totalServers!: number;

  @ApiProperty({ description: 'Free space reported by the connected servers, in bytes' })
  availableSpace!: number;

  @ApiProperty()
  introducersConnected!: number;

  @ApiProperty()
  introducersTotal!: number;

  @ApiProperty({ type: [GridServerDto] })
  servers!: GridServerDto[];

  @ApiProperty({ description: 'When the node was asked (ISO 8601)' })
  checkedAt!: string;
}
