import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Written by hand, like AddSyncJournal: the generator rebuilds `inode` (create a copy, DROP TABLE, rename), and with
 * foreign keys on, dropping `inode` would cascade into dir_entry, symlink and xattr. Adding the column in place keeps
 * every row.
 */
export class AddPublishedInode1796530352826 implements MigrationInterface {
  name = 'AddPublishedInode1796530352826';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inode" ADD COLUMN "published_ino" bigint`);
    await queryRunner.query(`CREATE INDEX "IDX_inode_published_ino" ON "inode" ("published_ino") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_inode_published_ino"`);
    await queryRunner.query(`ALTER TABLE "inode" DROP COLUMN "published_ino"`);
  }
}
