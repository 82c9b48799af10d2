import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { HOW_TO_START_MARIADB, TEST_MARIADB_URL } from './services';

export interface TestDatabase {
  /** mysql://… URL naming the fresh database. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function connectAdmin(): Promise<mysql.Connection> {
  try {
    return await mysql.createConnection({ uri: TEST_MARIADB_URL, connectTimeout: 5000 });
  } catch (error) {
    throw new Error(
      `MariaDB is not reachable at ${TEST_MARIADB_URL} (${(error as Error).message}); ${HOW_TO_START_MARIADB}`,
      { cause: error },
    );
  }
}

/** Fails with a message saying how to start MariaDB when it is down. */
export async function assertMariaDbReachable(): Promise<void> {
  const connection = await connectAdmin();
  await connection.end();
}

/** Creates a uniquely named, empty database; `drop()` removes it (call it in afterAll). */
export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const safeLabel = label
    .replace(/[^a-z0-9]/gi, '')
    .slice(0, 20)
    .toLowerCase();
  const name = `riverfs_${safeLabel}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const connection = await connectAdmin();
  try {
    await connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await connection.end();
  }
  const url = new URL(TEST_MARIADB_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const admin = await connectAdmin();
      try {
        await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await admin.end();
      }
    },
  };
}
