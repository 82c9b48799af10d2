import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AddTahoeCheckResult1796573020187 implements MigrationInterface {
  name = 'AddTahoeCheckResult1796573020187';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE \`tahoe_check_result\` (\`ino\` bigint NOT NULL, \`checked_at\` bigint NOT NULL, \`healthy\` tinyint NOT NULL, \`recoverable\` tinyint NOT NULL, \`shares_good\` int NOT NULL, \`shares_needed\` int NOT NULL, \`shares_expected\` int NOT NULL, \`servers\` int NOT NULL, \`repaired\` tinyint NOT NULL, \`summary\` text CHARACTER SET "utf8mb4" COLLATE "utf8mb4_bin" NULL, INDEX \`IDX_tahoe_check_result_healthy\` (\`healthy\`), PRIMARY KEY (\`ino\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `ALTER TABLE \`tahoe_check_result\` ADD CONSTRAINT \`FK_tahoe_check_result_ino\` FOREIGN KEY (\`ino\`) REFERENCES \`inode\`(\`ino\`) ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE \`tahoe_check_result\` DROP FOREIGN KEY \`FK_tahoe_check_result_ino\``);
    await queryRunner.query(`DROP INDEX \`IDX_tahoe_check_result_healthy\` ON \`tahoe_check_result\``);
    await queryRunner.query(`DROP TABLE \`tahoe_check_result\``);
  }
}
