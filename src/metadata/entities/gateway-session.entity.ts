import { EntitySchema } from 'typeorm';
import { bigint, columnTypes, type SqlDialect } from './column-types';

/** One row of `gateway_session`: a running gateway, alive while its heartbeat keeps `expiresAt` ahead. */
export class GatewaySessionModel {
  sid!: number;
  /** JSON: host, pid, mountpoint, version. */
  info!: string;
  startedAt!: number;
  heartbeatAt!: number;
  expiresAt!: number;
}

export function gatewaySessionEntity(dialect: SqlDialect): EntitySchema<GatewaySessionModel> {
  const types = columnTypes(dialect);
  return new EntitySchema<GatewaySessionModel>({
    name: 'GatewaySessionModel',
    target: GatewaySessionModel,
    tableName: 'gateway_session',
    columns: {
      sid: bigint({ ...types.serial(), primary: true, generated: 'increment' }),
      info: { ...types.text() },
      startedAt: bigint({ name: 'started_at' }),
      heartbeatAt: bigint({ name: 'heartbeat_at' }),
      expiresAt: bigint({ name: 'expires_at' }),
    },
    indices: [{ name: 'IDX_gateway_session_expires_at', columns: ['expiresAt'] }],
  });
}
