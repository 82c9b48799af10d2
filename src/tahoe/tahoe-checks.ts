import { StringDecoder } from 'node:string_decoder';
import { TahoeError, tahoeErrorFromTransport } from './tahoe.errors';
import { capPath, dirCap, usableCap } from './tahoe-addressing';
import { discard, type TahoeHttp } from './tahoe-http';
import {
  type GridStatus,
  parseCheckAndRepairResults,
  parseCheckResults,
  parseManifestLine,
  parseStatistics,
  parseWelcome,
} from './tahoe-json.util';
import type {
  CheckAndRepairResults,
  CheckOptions,
  CheckResults,
  ManifestEntry,
  RequestControl,
  TahoeStatistics,
} from './tahoe.types';

/**
 * Upkeep and status operations of TahoeClient (which documents each one): check and repair, manifest walks, and the
 * client node's view of the grid and its counters.
 */
export class TahoeChecks {
  constructor(private readonly http: TahoeHttp) {}

  // --------------------------------------------------------------------------------------------- check and manifest

  async check(cap: string, options: CheckOptions): Promise<CheckResults> {
    const operation = 'check';
    const parsed = usableCap(operation, cap);
    const json = await this.http.callJson(operation, {
      method: 'POST',
      path: capPath(parsed),
      query: {
        t: 'check',
        output: 'JSON',
        verify: options.verify ? 'true' : undefined,
        'add-lease': options.addLease ? 'true' : undefined,
      },
      signal: options.signal,
    });
    return parseCheckResults(json);
  }

  async checkAndRepair(cap: string, options: CheckOptions): Promise<CheckAndRepairResults> {
    const operation = 'checkAndRepair';
    const parsed = usableCap(operation, cap);
    const json = await this.http.callJson(
      operation,
      {
        method: 'POST',
        path: capPath(parsed),
        query: {
          t: 'check',
          repair: 'true',
          output: 'JSON',
          verify: options.verify ? 'true' : undefined,
          'add-lease': options.addLease ? 'true' : undefined,
        },
        signal: options.signal,
      },
      false,
    );
    return parseCheckAndRepairResults(json);
  }

  async *streamManifest(dircap: string, options: RequestControl): AsyncGenerator<ManifestEntry> {
    const operation = 'streamManifest';
    const parsed = dirCap(operation, dircap);
    const response = await this.http.withRetry(operation, options.signal, () =>
      this.http.open(operation, {
        method: 'POST',
        path: capPath(parsed),
        query: { t: 'stream-manifest' },
        signal: options.signal,
      }),
    );
    const decoder = new StringDecoder('utf8');
    let pending = '';
    try {
      for await (const chunk of response.body) {
        pending += decoder.write(chunk as Buffer);
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line.startsWith('ERROR:')) {
            throw new TahoeError({ code: 'UNRECOVERABLE', operation, detail: `${line} ${pending.slice(0, 300)}` });
          }
          const entry = line === '' ? undefined : parseManifestLine(line);
          if (entry) {
            yield entry;
          }
          newline = pending.indexOf('\n');
        }
      }
      const last = (pending + decoder.end()).trim();
      if (last.startsWith('ERROR:')) {
        throw new TahoeError({ code: 'UNRECOVERABLE', operation, detail: last.slice(0, 300) });
      }
      const entry = last === '' ? undefined : parseManifestLine(last);
      if (entry) {
        yield entry;
      }
    } catch (error) {
      throw tahoeErrorFromTransport(operation, error);
    } finally {
      discard(response.body);
      response.release();
    }
  }

  // ---------------------------------------------------------------------------------------------------- node status

  async gridStatus(options: RequestControl): Promise<GridStatus> {
    return parseWelcome(
      await this.http.callJson('gridStatus', {
        method: 'GET',
        path: '/',
        query: { t: 'json' },
        signal: options.signal,
      }),
    );
  }

  async statistics(options: RequestControl): Promise<TahoeStatistics> {
    return parseStatistics(
      await this.http.callJson('statistics', {
        method: 'GET',
        path: '/statistics',
        query: { t: 'json' },
        signal: options.signal,
      }),
    );
  }
}
