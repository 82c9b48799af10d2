import { MARIADB_BACKEND } from '../support/mount-backends.helper';
import { describeMountSemantics } from './mount-posix.contract';

describeMountSemantics(MARIADB_BACKEND);
