import { SQLITE_BACKEND } from '../support/mount-backends.helper';
import { describeMountSemantics } from './mount-posix.contract';

describeMountSemantics(SQLITE_BACKEND);
