import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Generated against SQLite, then reviewed: the generator creates each table and recreates it to add its
 * foreign keys (SQLite cannot ALTER TABLE … ADD CONSTRAINT); this creates the final tables directly.
 */
export class CreateMetadataSchema1795523550965 implements MigrationInterface {
  name = 'CreateMetadataSchema1795523550965';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "inode" ("ino" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "type" varchar(8) NOT NULL, "mode" integer NOT NULL, "uid" bigint NOT NULL, "gid" bigint NOT NULL, "size" bigint NOT NULL DEFAULT (0), "nlink" integer NOT NULL, "rdev" bigint NOT NULL DEFAULT (0), "parent" bigint, "atime_sec" bigint NOT NULL, "atime_nsec" integer NOT NULL, "mtime_sec" bigint NOT NULL, "mtime_nsec" integer NOT NULL, "ctime_sec" bigint NOT NULL, "ctime_nsec" integer NOT NULL, "content_version" bigint NOT NULL DEFAULT (0), "write_cap" varchar(512), "read_cap" varchar(512), "synced_content_version" bigint, "sync_state" varchar(8) NOT NULL DEFAULT ('dirty'), "data_dirty" boolean NOT NULL DEFAULT (0), "attr_dirty" boolean NOT NULL DEFAULT (0), "entries_dirty" boolean NOT NULL DEFAULT (0), "dirty_since" bigint, "listed_at" bigint)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_inode_sync_state_dirty_since" ON "inode" ("sync_state", "dirty_since")`);
    await queryRunner.query(`CREATE INDEX "IDX_inode_nlink" ON "inode" ("nlink")`);
    await queryRunner.query(
      `CREATE TABLE "gateway_session" ("sid" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "info" text NOT NULL, "started_at" bigint NOT NULL, "heartbeat_at" bigint NOT NULL, "expires_at" bigint NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_gateway_session_expires_at" ON "gateway_session" ("expires_at")`);
    await queryRunner.query(
      `CREATE TABLE "fs_setting" ("name" varchar(64) PRIMARY KEY NOT NULL, "value" text NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE "synced_entry" ("parent" bigint NOT NULL, "name" blob NOT NULL, "child" bigint, "cap" varchar(512) NOT NULL, "synced_at" bigint NOT NULL, PRIMARY KEY ("parent", "name"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_synced_entry_child" ON "synced_entry" ("child")`);
    await queryRunner.query(
      `CREATE TABLE "dir_entry" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "parent" bigint NOT NULL, "name" blob NOT NULL, "child" bigint NOT NULL, CONSTRAINT "FK_dir_entry_parent" FOREIGN KEY ("parent") REFERENCES "inode" ("ino") ON DELETE RESTRICT ON UPDATE NO ACTION, CONSTRAINT "FK_dir_entry_child" FOREIGN KEY ("child") REFERENCES "inode" ("ino") ON DELETE RESTRICT ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_dir_entry_parent_name" ON "dir_entry" ("parent", "name")`);
    await queryRunner.query(`CREATE INDEX "IDX_dir_entry_parent_id" ON "dir_entry" ("parent", "id")`);
    await queryRunner.query(`CREATE INDEX "IDX_dir_entry_child" ON "dir_entry" ("child")`);
    await queryRunner.query(
      `CREATE TABLE "symlink" ("ino" bigint PRIMARY KEY NOT NULL, "target" blob NOT NULL, CONSTRAINT "FK_symlink_ino" FOREIGN KEY ("ino") REFERENCES "inode" ("ino") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await queryRunner.query(
      `CREATE TABLE "xattr" ("ino" bigint NOT NULL, "name" blob NOT NULL, "value" blob NOT NULL, CONSTRAINT "FK_xattr_ino" FOREIGN KEY ("ino") REFERENCES "inode" ("ino") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("ino", "name"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "sustained_inode" ("sid" bigint NOT NULL, "ino" bigint NOT NULL, CONSTRAINT "FK_sustained_inode_sid" FOREIGN KEY ("sid") REFERENCES "gateway_session" ("sid") ON DELETE CASCADE ON UPDATE NO ACTION, CONSTRAINT "FK_sustained_inode_ino" FOREIGN KEY ("ino") REFERENCES "inode" ("ino") ON DELETE CASCADE ON UPDATE NO ACTION, PRIMARY KEY ("sid", "ino"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_sustained_inode_ino" ON "sustained_inode" ("ino")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "sustained_inode"`);
    await queryRunner.query(`DROP TABLE "xattr"`);
    await queryRunner.query(`DROP TABLE "symlink"`);
    await queryRunner.query(`DROP TABLE "dir_entry"`);
    await queryRunner.query(`DROP TABLE "synced_entry"`);
    await queryRunner.query(`DROP TABLE "fs_setting"`);
    await queryRunner.query(`DROP TABLE "gateway_session"`);
    await queryRunner.query(`DROP TABLE "inode"`);
  }
}
