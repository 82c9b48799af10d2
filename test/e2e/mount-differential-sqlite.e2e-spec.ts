import { SQLITE_BACKEND } from '../support/mount-backends.helper';
import { describeDifferential } from './mount-differential.contract';

describeDifferential(SQLITE_BACKEND, 'test/e2e/mount-differential-sqlite.e2e-spec.ts', { runs: 8, ops: 500 });
