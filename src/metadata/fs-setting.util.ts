import type { DataSource } from 'typeorm';
import { FsSettingModel } from './entities';

/** The value of one `fs_setting` row, or null when there is none. */
export async function readFsSetting(dataSource: DataSource, name: string): Promise<string | null> {
  const row = await dataSource.createQueryBuilder(FsSettingModel, 's').where('s.name = :name', { name }).getOne();
  return row?.value ?? null;
}

/** Writes one `fs_setting` row, creating it when absent (update first: the row exists on every write but the first). */
export async function writeFsSetting(dataSource: DataSource, name: string, value: string): Promise<void> {
  await dataSource.transaction(async (manager) => {
    const updated = await manager
      .createQueryBuilder()
      .update(FsSettingModel)
      .set({ value })
      .where('name = :name', { name })
      .execute();
    if (!updated.affected) {
      await manager.createQueryBuilder().insert().into(FsSettingModel).values({ name, value }).execute();
    }
  });
}
