import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AddFilesystemLease1796530413563 implements MigrationInterface {
  name = 'AddFilesystemLease1796530413563';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE \`filesystem_lease\` (\`name\` varchar(32) CHARACTER SET "ascii" COLLATE "ascii_bin" NOT NULL, \`token\` varchar(64) CHARACTER SET "ascii" COLLATE "ascii_bin" NULL, \`data_dir_id\` varchar(64) CHARACTER SET "ascii" COLLATE "ascii_bin" NULL, \`host\` text CHARACTER SET "utf8mb4" COLLATE "utf8mb4_bin" NULL, \`pid\` int NULL, \`data_dir\` text CHARACTER SET "utf8mb4" COLLATE "utf8mb4_bin" NULL, \`since\` bigint NULL, \`renewed_at\` bigint NOT NULL DEFAULT '0', \`expires_at\` bigint NOT NULL DEFAULT '0', PRIMARY KEY (\`name\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `ALTER TABLE \`inode\` ADD \`dirty_owner\` varchar(64) CHARACTER SET "ascii" COLLATE "ascii_bin" NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE \`inode\` DROP COLUMN \`dirty_owner\``);
    await queryRunner.query(`DROP TABLE \`filesystem_lease\``);
  }
}
