import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AddPublishedInode1796530352826 implements MigrationInterface {
  name = 'AddPublishedInode1796530352826';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE \`inode\` ADD \`published_ino\` bigint NULL`);
    await queryRunner.query(`CREATE INDEX \`IDX_inode_published_ino\` ON \`inode\` (\`published_ino\`)`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX \`IDX_inode_published_ino\` ON \`inode\``);
    await queryRunner.query(`ALTER TABLE \`inode\` DROP COLUMN \`published_ino\``);
  }
}
