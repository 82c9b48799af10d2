import type { LoggerService, LogLevel as NestLogLevel } from '@nestjs/common';
import type { LogFormat, LogLevel } from '../../config/config.schema';
import { redactCapsInText } from '../../tahoe/cap.util';

const SEVERITY: Record<LogLevel | 'fatal', number> = { fatal: 0, error: 1, warn: 2, log: 3, debug: 4, verbose: 5 };

export interface RiverFsLoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; stderr by default so that stdout stays free for command output. */
  write?: (line: string) => void;
  isTerminal?: boolean;
  now?: () => Date;
}

/**
 * The one logger of the process (Nest's and ours): JSON lines when not on a terminal, readable lines on one, and
 * every cap redacted from every message and field before it is written, whoever logged it.
 */
export class RiverFsLogger implements LoggerService {
  private readonly write: (line: string) => void;
  private readonly json: boolean;
  private readonly now: () => Date;

  constructor(private readonly options: RiverFsLoggerOptions) {
    this.write = options.write ?? ((line) => process.stderr.write(line + '\n'));
    const terminal = options.isTerminal ?? process.stderr.isTTY;
    this.json = options.format === 'json' || (options.format === 'auto' && !terminal);
    this.now = options.now ?? (() => new Date());
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.emit('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit('fatal', message, rest);
  }

  isLevelEnabled(level: NestLogLevel): boolean {
    return SEVERITY[level] <= SEVERITY[this.options.level];
  }

  private emit(level: LogLevel | 'fatal', message: unknown, rest: unknown[]): void {
    if (!this.isLevelEnabled(level)) {
      return;
    }
    // Nest passes the context as the last string argument, and for errors a stack before it.
    const args = [...rest];
    const context = args.length > 0 && typeof args[args.length - 1] === 'string' ? (args.pop() as string) : undefined;
    const stack =
      level === 'error' && typeof args[0] === 'string' && args[0].includes('\n    at ')
        ? (args.shift() as string)
        : undefined;
    const fields: Record<string, unknown> = {};
    let text: string;
    if (message instanceof Error) {
      text = message.message;
      fields.error = { name: message.name, stack: message.stack };
    } else if (typeof message === 'object' && message !== null) {
      const { msg, message: inner, ...other } = message as Record<string, unknown>;
      text = typeof msg === 'string' ? msg : typeof inner === 'string' ? inner : '';
      Object.assign(fields, other);
    } else {
      text = String(message);
    }
    if (stack !== undefined) {
      fields.stack = stack;
    }
    if (args.length > 0) {
      fields.args = args;
    }
    const time = this.now();
    if (this.json) {
      const record = { time: time.toISOString(), level, context, msg: text, ...fields };
      this.write(redactCapsInText(JSON.stringify(record, jsonReplacer)));
      return;
    }
    const extra = Object.keys(fields).length > 0 ? ' ' + JSON.stringify(fields, jsonReplacer) : '';
    const line = `${time.toISOString()} ${level.toUpperCase().padEnd(7)} ${context ? `[${context}] ` : ''}${text}${extra}`;
    this.write(redactCapsInText(line));
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value.toString();
  }
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack };
  }
  return value;
}
