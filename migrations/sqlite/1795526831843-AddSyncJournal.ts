import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Written by hand: the generator rebuilds `inode` (create a copy, DROP TABLE, rename), and with foreign keys on,
 * dropping `inode` would cascade into dir_entry, symlink and xattr. Adding columns in place keeps every row.
 */
export class AddSyncJournal1795526831843 implements MigrationInterface {
  name = 'AddSyncJournal1795526831843';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "inode" ADD COLUMN "change_seq" bigint NOT NULL DEFAULT (0)`);
    await queryRunner.query(`ALTER TABLE "inode" ADD COLUMN "sync_error" text`);
    await queryRunner.query(`ALTER TABLE "inode" ADD COLUMN "sync_tries" integer NOT NULL DEFAULT (0)`);
    await queryRunner.query(`ALTER TABLE "synced_entry" ADD COLUMN "meta_hash" varchar(64)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "synced_entry" DROP COLUMN "meta_hash"`);
    await queryRunner.query(`ALTER TABLE "inode" DROP COLUMN "sync_tries"`);
    await queryRunner.query(`ALTER TABLE "inode" DROP COLUMN "sync_error"`);
    await queryRunner.query(`ALTER TABLE "inode" DROP COLUMN "change_seq"`);
  }
}
