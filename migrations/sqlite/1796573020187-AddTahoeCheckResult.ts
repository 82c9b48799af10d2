import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Written by hand: the generator creates the table, then rebuilds it through a temporary copy to add the foreign
 * key; a new table can carry its foreign key from the start.
 */
export class AddTahoeCheckResult1796573020187 implements MigrationInterface {
  name = 'AddTahoeCheckResult1796573020187';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "tahoe_check_result" ("ino" bigint PRIMARY KEY NOT NULL, "checked_at" bigint NOT NULL, "healthy" boolean NOT NULL, "recoverable" boolean NOT NULL, "shares_good" integer NOT NULL, "shares_needed" integer NOT NULL, "shares_expected" integer NOT NULL, "servers" integer NOT NULL, "repaired" boolean NOT NULL, "summary" text, CONSTRAINT "FK_tahoe_check_result_ino" FOREIGN KEY ("ino") REFERENCES "inode" ("ino") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_tahoe_check_result_healthy" ON "tahoe_check_result" ("healthy") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_tahoe_check_result_healthy"`);
    await queryRunner.query(`DROP TABLE "tahoe_check_result"`);
  }
}
