import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const MIN_TOKEN_LENGTH = 16;

export interface TokenFileResult {
  token: string;
  /** True when this call created the file (first start). */
  created: boolean;
  /** True when an existing file was readable by others and has been narrowed to 0600. */
  repairedMode: boolean;
}

/** 32 random bytes, base64url: 43 characters that survive shells, headers and YAML unquoted. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

function readToken(file: string): TokenFileResult {
  const stat = fs.statSync(file);
  let repairedMode = false;
  if ((stat.mode & 0o077) !== 0) {
    fs.chmodSync(file, 0o600);
    repairedMode = true;
  }
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new Error(
      `${file} holds no usable token (at least ${MIN_TOKEN_LENGTH} characters); delete it to have one generated`,
    );
  }
  return { token, created: false, repairedMode };
}

/**
 * The token stored in `file`, created on first use: written to a private temporary file (mode 0600 from the
 * start, never wider), flushed, then linked to its name, which fails if another process got there first; that
 * process's token is then used. A reader can therefore never see a half-written token, and two gateways starting
 * at once agree on one.
 */
export function ensureTokenFile(file: string): TokenFileResult {
  try {
    return readToken(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw error;
    }
  }
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const token = generateToken();
  const fd = fs.openSync(temporary, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    fs.writeSync(fd, `${token}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return readToken(file);
    }
    throw error;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  const dirFd = fs.openSync(dir, fs.constants.O_RDONLY);
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
  return { token, created: true, repairedMode: false };
}
