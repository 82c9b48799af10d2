import { Injectable } from '@nestjs/common';
import { redactCapsInText } from '../tahoe/cap.util';

export interface RecentError {
  /** ISO 8601. */
  time: string;
  /** Which part saw it: `http`, `tahoe`, `job`, and later `sync` and `fuse`. */
  source: string;
  code: string;
  message: string;
  correlationId?: string;
}

export interface RecordedError {
  source: string;
  code: string;
  message: string;
  correlationId?: string;
}

const CAPACITY = 100;

/**
 * The last errors any part of the gateway saw, for the dashboard and `GET /admin/errors`: a bounded ring, newest
 * first, with caps redacted on the way in so nothing stored here is secret.
 */
@Injectable()
export class RecentErrorsService {
  private readonly entries: RecentError[] = [];
  private recorded = 0;

  record(error: RecordedError): void {
    this.recorded += 1;
    this.entries.unshift({
      time: new Date().toISOString(),
      source: error.source,
      code: error.code,
      message: redactCapsInText(error.message).slice(0, 1000),
      ...(error.correlationId === undefined ? {} : { correlationId: error.correlationId }),
    });
    if (this.entries.length > CAPACITY) {
      this.entries.length = CAPACITY;
    }
  }

  /** Newest first. */
  list(limit = CAPACITY): RecentError[] {
    return this.entries.slice(0, Math.max(0, limit)).map((entry) => ({ ...entry }));
  }

  /** Errors recorded since start, including those that fell out of the ring. */
  get total(): number {
    return this.recorded;
  }
}
