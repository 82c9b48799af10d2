import type { RiverFsProcess } from './fuse-mount.helper';

/** GET on a mounted RiverFS's admin API with its token; anything but 200 fails the caller with the status. */
export async function adminGet<T>(riverfs: RiverFsProcess, route: string): Promise<T> {
  const response = await fetch(`${riverfs.adminUrl}${route}`, {
    headers: { authorization: `Bearer ${riverfs.adminToken()}` },
  });
  if (response.status !== 200) {
    throw new Error(`GET ${route}: HTTP ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as T;
}

/** One series of a mounted RiverFS's /metrics, e.g. `riverfs_fuse_op_duration_seconds_count{op="read"}`; 0 if absent. */
export async function metricValue(riverfs: RiverFsProcess, series: string): Promise<number> {
  const response = await fetch(`${riverfs.adminUrl}/metrics`, {
    headers: { authorization: `Bearer ${riverfs.adminToken()}` },
  });
  if (response.status !== 200) {
    throw new Error(`GET /metrics: HTTP ${response.status} ${await response.text()}`);
  }
  const line = (await response.text()).split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
