import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Written by hand (as AddSyncJournal): the generator rebuilds `inode` to add a column, and with foreign keys on,
 * dropping `inode` would cascade into dir_entry, symlink and xattr. Adding the column in place keeps every row.
 */
export class AddFilesystemLease1796530413563 implements MigrationInterface {
  name = 'AddFilesystemLease1796530413563';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "filesystem_lease" ("name" varchar(32) PRIMARY KEY NOT NULL, "token" varchar(64), "data_dir_id" varchar(64), "host" text, "pid" integer, "data_dir" text, "since" bigint, "renewed_at" bigint NOT NULL DEFAULT (0), "expires_at" bigint NOT NULL DEFAULT (0))`,
    );
    await queryRunner.query(`ALTER TABLE "inode" ADD COLUMN "dirty_owner" varchar(64)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inode" DROP COLUMN "dirty_owner"`);
    await queryRunner.query(`DROP TABLE "filesystem_lease"`);
  }
}
