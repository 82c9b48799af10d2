import { MARIADB_BACKEND } from '../support/mount-backends.helper';
import { describeDifferential } from './mount-differential.contract';

// Fewer calls than on SQLite: each one commits a MariaDB transaction.
describeDifferential(MARIADB_BACKEND, 'test/e2e/mount-differential-mariadb.e2e-spec.ts', { runs: 5, ops: 500 });
