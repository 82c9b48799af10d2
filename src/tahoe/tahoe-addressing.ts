import { type KnownCap, type KnownCapKind, parseCap, parseKnownCap } from './cap.util';
import { TahoeError, tahoeErrorFromTransport } from './tahoe.errors';
import { encodeSegment } from './tahoe-http';

/**
 * How TahoeClient addresses objects: which caps each kind of operation accepts (refused here, before a request, with
 * the real reason), the `/uri/$CAP[/NAME]` paths, the rules for child names, and the cap expected in an answer.
 */

const MUTABLE_FILE_KINDS: ReadonlySet<KnownCapKind> = new Set<KnownCapKind>(['SSK', 'SSK-RO', 'MDMF', 'MDMF-RO']);

function capError(operation: string, error: unknown): never {
  throw tahoeErrorFromTransport(operation, error);
}

/** A known cap that the web API can address: not a verify cap (Tahoe answers those with a 500 or a 405). */
export function usableCap(operation: string, cap: string): KnownCap {
  let parsed: KnownCap;
  try {
    parsed = parseKnownCap(cap);
  } catch (error) {
    capError(operation, error);
  }
  if (parsed.access === 'verify') {
    throw new TahoeError({
      code: 'BAD_CAP',
      operation,
      detail: `a URI:${parsed.kind} cap cannot be used through the web API`,
    });
  }
  return parsed;
}

export function dirCap(operation: string, cap: string): KnownCap {
  const parsed = usableCap(operation, cap);
  if (!parsed.isDirectory) {
    throw new TahoeError({ code: 'BAD_CAP', operation, detail: `expected a directory cap, got URI:${parsed.kind}` });
  }
  return parsed;
}

export function fileCap(operation: string, cap: string): KnownCap {
  const parsed = usableCap(operation, cap);
  if (parsed.isDirectory) {
    throw new TahoeError({ code: 'BAD_CAP', operation, detail: `expected a file cap, got URI:${parsed.kind}` });
  }
  return parsed;
}

/** Read-only mutable caps pass: Tahoe itself refuses the write, and that answer maps to READ_ONLY. */
export function mutableFileCap(operation: string, cap: string): KnownCap {
  const parsed = fileCap(operation, cap);
  if (!MUTABLE_FILE_KINDS.has(parsed.kind)) {
    throw new TahoeError({
      code: 'BAD_CAP',
      operation,
      detail: `expected a mutable file cap, got URI:${parsed.kind}`,
    });
  }
  return parsed;
}

/** Any cap a directory may hold, unknown formats included (Tahoe keeps those as they are). */
export function linkableCap(operation: string, cap: string): void {
  try {
    parseCap(cap);
  } catch (error) {
    capError(operation, error);
  }
}

export function capPath(cap: KnownCap): string {
  return `/uri/${encodeSegment(cap.bareCap, 'capPath')}`;
}

export function childPath(parent: KnownCap, name: string, operation: string): string {
  return `${capPath(parent)}/${encodeSegment(name, operation)}`;
}

export function expectCap(operation: string, text: string, accept: (cap: KnownCap) => boolean): string {
  const cap = text.trim();
  const parsed = (() => {
    try {
      return parseKnownCap(cap);
    } catch {
      return undefined;
    }
  })();
  if (!parsed || !accept(parsed)) {
    throw new TahoeError({
      code: 'SERVER_ERROR',
      operation,
      detail: `unexpected answer instead of a cap: ${cap.slice(0, 200)}`,
    });
  }
  return cap;
}

export function assertChildName(name: string, operation: string): void {
  if (typeof name !== 'string' || name === '') {
    throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'child name must be a non-empty string' });
  }
  if (name.includes('/')) {
    throw new TahoeError({ code: 'BAD_REQUEST', operation, detail: 'child name must not contain "/"' });
  }
  // JSON bodies would carry a lone surrogate through and Tahoe would store a name no URL can address.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(name)) {
    throw new TahoeError({
      code: 'BAD_REQUEST',
      operation,
      detail: 'child name is not valid Unicode (lone surrogate)',
    });
  }
}
