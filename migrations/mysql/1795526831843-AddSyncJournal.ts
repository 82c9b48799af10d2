import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AddSyncJournal1795526831843 implements MigrationInterface {
  name = 'AddSyncJournal1795526831843';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE \`inode\` ADD \`change_seq\` bigint NOT NULL DEFAULT '0'`);
    await queryRunner.query(
      `ALTER TABLE \`inode\` ADD \`sync_error\` text CHARACTER SET "utf8mb4" COLLATE "utf8mb4_bin" NULL`,
    );
    await queryRunner.query(`ALTER TABLE \`inode\` ADD \`sync_tries\` int NOT NULL DEFAULT '0'`);
    await queryRunner.query(
      `ALTER TABLE \`synced_entry\` ADD \`meta_hash\` varchar(64) CHARACTER SET "ascii" COLLATE "ascii_bin" NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE \`synced_entry\` DROP COLUMN \`meta_hash\``);
    await queryRunner.query(`ALTER TABLE \`inode\` DROP COLUMN \`sync_tries\``);
    await queryRunner.query(`ALTER TABLE \`inode\` DROP COLUMN \`sync_error\``);
    await queryRunner.query(`ALTER TABLE \`inode\` DROP COLUMN \`change_seq\``);
  }
}
