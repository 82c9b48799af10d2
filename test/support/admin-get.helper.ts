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
