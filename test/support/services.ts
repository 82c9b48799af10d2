/**
 * Where the test run finds MariaDB and Redis, and what to tell the developer when one is down.
 * A missing service fails the run; nothing is silently skipped.
 */
export const TEST_MARIADB_URL = process.env.RIVERFS_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306';
export const TEST_REDIS_URL = process.env.RIVERFS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const HOW_TO_START_MARIADB =
  'start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd ' +
  '(or point RIVERFS_TEST_MARIADB_URL at a server where root may create databases)';
export const HOW_TO_START_REDIS =
  'start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no ' +
  '(or point RIVERFS_TEST_REDIS_URL at a server)';
