import { Injectable } from '@nestjs/common';
import { GridStatusService } from '../status/grid-status.service';
import type { GridDto } from './dto/grid.dto';

@Injectable()
export class GridAdminService {
  constructor(private readonly grid: GridStatusService) {}

  /** Asks the node now (joining a request already in flight): an operator looking at the grid wants it current. */
  async status(): Promise<GridDto> {
    const snapshot = await this.grid.current();
    const { status } = snapshot;
    return {
      happy: snapshot.happy,
      sharesHappy: snapshot.sharesHappy,
      connectedServers: status.connectedCount,
      totalServers: status.servers.length,
      availableSpace: status.availableSpace,
      introducersConnected: status.connectedIntroducers,
      introducersTotal: status.introducerStatuses.length,
      servers: status.servers.map((server) => ({
        nodeId: server.nodeId,
        nickname: server.nickname,
        connected: server.connected,
        connectionStatus: server.connectionStatus,
        availableSpace: server.availableSpace,
        version: server.version,
        lastReceivedData:
          server.lastReceivedData === null ? null : new Date(server.lastReceivedData * 1000).toISOString(),
      })),
      checkedAt: new Date(snapshot.checkedAt).toISOString(),
    };
  }
}
