import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateMetadataSchema1795523550965 implements MigrationInterface {
  name = 'CreateMetadataSchema1795523550965';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE \`inode\` (\`ino\` bigint NOT NULL AUTO_INCREMENT, \`type\` varchar(8) CHARACTER SET "ascii" COLLATE "ascii_bin" NOT NULL, \`mode\` int NOT NULL, \`uid\` bigint NOT NULL, \`gid\` bigint NOT NULL, \`size\` bigint NOT NULL DEFAULT '0', \`nlink\` int NOT NULL, \`rdev\` bigint NOT NULL DEFAULT '0', \`parent\` bigint NULL, \`atime_sec\` bigint NOT NULL, \`atime_nsec\` int NOT NULL, \`mtime_sec\` bigint NOT NULL, \`mtime_nsec\` int NOT NULL, \`ctime_sec\` bigint NOT NULL, \`ctime_nsec\` int NOT NULL, \`content_version\` bigint NOT NULL DEFAULT '0', \`write_cap\` varchar(512) CHARACTER SET "ascii" COLLATE "ascii_bin" NULL, \`read_cap\` varchar(512) CHARACTER SET "ascii" COLLATE "ascii_bin" NULL, \`synced_content_version\` bigint NULL, \`sync_state\` varchar(8) CHARACTER SET "ascii" COLLATE "ascii_bin" NOT NULL DEFAULT 'dirty', \`data_dirty\` tinyint NOT NULL DEFAULT 0, \`attr_dirty\` tinyint NOT NULL DEFAULT 0, \`entries_dirty\` tinyint NOT NULL DEFAULT 0, \`dirty_since\` bigint NULL, \`listed_at\` bigint NULL, INDEX \`IDX_inode_sync_state_dirty_since\` (\`sync_state\`, \`dirty_since\`), INDEX \`IDX_inode_nlink\` (\`nlink\`), PRIMARY KEY (\`ino\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`dir_entry\` (\`id\` bigint NOT NULL AUTO_INCREMENT, \`parent\` bigint NOT NULL, \`name\` varbinary(255) NOT NULL, \`child\` bigint NOT NULL, UNIQUE INDEX \`UQ_dir_entry_parent_name\` (\`parent\`, \`name\`), INDEX \`IDX_dir_entry_parent_id\` (\`parent\`, \`id\`), INDEX \`IDX_dir_entry_child\` (\`child\`), PRIMARY KEY (\`id\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`symlink\` (\`ino\` bigint NOT NULL, \`target\` varbinary(4096) NOT NULL, PRIMARY KEY (\`ino\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`xattr\` (\`ino\` bigint NOT NULL, \`name\` varbinary(255) NOT NULL, \`value\` mediumblob NOT NULL, PRIMARY KEY (\`ino\`, \`name\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`gateway_session\` (\`sid\` bigint NOT NULL AUTO_INCREMENT, \`info\` text CHARACTER SET "utf8mb4" COLLATE "utf8mb4_bin" NOT NULL, \`started_at\` bigint NOT NULL, \`heartbeat_at\` bigint NOT NULL, \`expires_at\` bigint NOT NULL, INDEX \`IDX_gateway_session_expires_at\` (\`expires_at\`), PRIMARY KEY (\`sid\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`sustained_inode\` (\`sid\` bigint NOT NULL, \`ino\` bigint NOT NULL, INDEX \`IDX_sustained_inode_ino\` (\`ino\`), PRIMARY KEY (\`sid\`, \`ino\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`fs_setting\` (\`name\` varchar(64) CHARACTER SET "ascii" COLLATE "ascii_bin" NOT NULL, \`value\` text CHARACTER SET "utf8mb4" COLLATE "utf8mb4_bin" NOT NULL, PRIMARY KEY (\`name\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `CREATE TABLE \`synced_entry\` (\`parent\` bigint NOT NULL, \`name\` varbinary(255) NOT NULL, \`child\` bigint NULL, \`cap\` varchar(512) CHARACTER SET "ascii" COLLATE "ascii_bin" NOT NULL, \`synced_at\` bigint NOT NULL, INDEX \`IDX_synced_entry_child\` (\`child\`), PRIMARY KEY (\`parent\`, \`name\`)) ENGINE=InnoDB`,
    );
    await queryRunner.query(
      `ALTER TABLE \`dir_entry\` ADD CONSTRAINT \`FK_dir_entry_parent\` FOREIGN KEY (\`parent\`) REFERENCES \`inode\`(\`ino\`) ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE \`dir_entry\` ADD CONSTRAINT \`FK_dir_entry_child\` FOREIGN KEY (\`child\`) REFERENCES \`inode\`(\`ino\`) ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE \`symlink\` ADD CONSTRAINT \`FK_symlink_ino\` FOREIGN KEY (\`ino\`) REFERENCES \`inode\`(\`ino\`) ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE \`xattr\` ADD CONSTRAINT \`FK_xattr_ino\` FOREIGN KEY (\`ino\`) REFERENCES \`inode\`(\`ino\`) ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE \`sustained_inode\` ADD CONSTRAINT \`FK_sustained_inode_sid\` FOREIGN KEY (\`sid\`) REFERENCES \`gateway_session\`(\`sid\`) ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE \`sustained_inode\` ADD CONSTRAINT \`FK_sustained_inode_ino\` FOREIGN KEY (\`ino\`) REFERENCES \`inode\`(\`ino\`) ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE \`sustained_inode\` DROP FOREIGN KEY \`FK_sustained_inode_ino\``);
    await queryRunner.query(`ALTER TABLE \`sustained_inode\` DROP FOREIGN KEY \`FK_sustained_inode_sid\``);
    await queryRunner.query(`ALTER TABLE \`xattr\` DROP FOREIGN KEY \`FK_xattr_ino\``);
    await queryRunner.query(`ALTER TABLE \`symlink\` DROP FOREIGN KEY \`FK_symlink_ino\``);
    await queryRunner.query(`ALTER TABLE \`dir_entry\` DROP FOREIGN KEY \`FK_dir_entry_child\``);
    await queryRunner.query(`ALTER TABLE \`dir_entry\` DROP FOREIGN KEY \`FK_dir_entry_parent\``);
    await queryRunner.query(`DROP INDEX \`IDX_synced_entry_child\` ON \`synced_entry\``);
    await queryRunner.query(`DROP TABLE \`synced_entry\``);
    await queryRunner.query(`DROP TABLE \`fs_setting\``);
    await queryRunner.query(`DROP INDEX \`IDX_sustained_inode_ino\` ON \`sustained_inode\``);
    await queryRunner.query(`DROP TABLE \`sustained_inode\``);
    await queryRunner.query(`DROP INDEX \`IDX_gateway_session_expires_at\` ON \`gateway_session\``);
    await queryRunner.query(`DROP TABLE \`gateway_session\``);
    await queryRunner.query(`DROP TABLE \`xattr\``);
    await queryRunner.query(`DROP TABLE \`symlink\``);
    await queryRunner.query(`DROP INDEX \`IDX_dir_entry_child\` ON \`dir_entry\``);
    await queryRunner.query(`DROP INDEX \`IDX_dir_entry_parent_id\` ON \`dir_entry\``);
    await queryRunner.query(`DROP INDEX \`UQ_dir_entry_parent_name\` ON \`dir_entry\``);
    await queryRunner.query(`DROP TABLE \`dir_entry\``);
    await queryRunner.query(`DROP INDEX \`IDX_inode_nlink\` ON \`inode\``);
    await queryRunner.query(`DROP INDEX \`IDX_inode_sync_state_dirty_since\` ON \`inode\``);
    await queryRunner.query(`DROP TABLE \`inode\``);
  }
}
