import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Tahoe-LAFS capabilities ("caps"): parsing, classification, derivation and redaction, all offline.
 *
 * The grammar follows Tahoe 1.20.0's own parser (`allmydata/uri.py`, `from_string`) rather than the prose docs, so
 * that anything the grid accepts we accept, and anything it would treat as an unknown or broken cap we classify the
 * same way. Caps are secrets: nothing here ever puts a raw cap into an error message.
 */

export const KNOWN_CAP_KINDS = [
  'LIT',
  'CHK',
  'CHK-Verifier',
  'SSK',
  'SSK-RO',
  'SSK-Verifier',
  'MDMF',
  'MDMF-RO',
  'MDMF-Verifier',
  'DIR2',
  'DIR2-RO',
  'DIR2-Verifier',
  'DIR2-MDMF',
  'DIR2-MDMF-RO',
  'DIR2-MDMF-Verifier',
  'DIR2-CHK',
  'DIR2-CHK-Verifier',
  'DIR2-LIT',
] as const;

export type KnownCapKind = (typeof KNOWN_CAP_KINDS)[number];
export type CapKind = KnownCapKind | 'UNKNOWN';
export type CapAccess = 'write' | 'read' | 'verify';
export type CapFormat = 'LIT' | 'CHK' | 'SDMF' | 'MDMF';
/** Prefixes a directory listing puts on caps it cannot parse, asserting what the cap may be used for. */
export type AllegedPrefix = 'ro.' | 'imm.';

export interface KnownCap {
  readonly known: true;
  /** The cap exactly as given (including any `ro.`/`imm.` prefix). */
  readonly cap: string;
  /** The cap without its `ro.`/`imm.` prefix: what to put in a URL. */
  readonly bareCap: string;
  readonly kind: KnownCapKind;
  readonly isDirectory: boolean;
  /** Whether the object can change (true for verify caps of mutable objects too). */
  readonly isMutable: boolean;
  readonly access: CapAccess;
  readonly format: CapFormat;
  /** File size in bytes, for the file caps that carry it in clear text: LIT, CHK and CHK-Verifier. */
  readonly size?: number;
  /** Shares needed (k) and total shares (N), for CHK-based caps (files and immutable directories). */
  readonly k?: number;
  readonly n?: number;
  readonly alleged?: AllegedPrefix;
}

/**
 * A cap of a format this gateway does not know, as found in directory listings. Only its prefix says anything:
 * `ro.` asserts read-only, `imm.` asserts immutable (and so read-only); without a prefix it may even be a write cap.
 */
export interface UnknownCap {
  readonly known: false;
  readonly cap: string;
  readonly kind: 'UNKNOWN';
  readonly alleged?: AllegedPrefix;
  readonly access: 'read' | undefined;
  readonly isMutable: false | undefined;
  readonly isDirectory: undefined;
  readonly format: undefined;
}

export type ParsedCap = KnownCap | UnknownCap;

export type BadCapReason = 'not-a-string' | 'not-a-cap' | 'malformed' | 'prefix-mismatch' | 'unknown' | 'wrong-kind';

/** Thrown for input that is not a usable cap. The message names the kind of problem, never the cap itself. */
export class BadCapError extends Error {
  constructor(
    readonly reason: BadCapReason,
    message: string,
  ) {
    super(message);
    this.name = 'BadCapError';
  }
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const C = '[a-z2-7]';
// Trailing characters that carry only padding bits in their low positions, exactly as uri.py's regexes demand:
// a 128-bit key is 25 full characters plus one with 3 significant bits, a 256-bit hash 51 plus one with 1.
const KEY128 = `${C}{25}[aqiyemu4]`;
const HASH256 = `${C}{51}[aq]`;
const ANY_BYTES = `(?:${C}{8})*(?:|${C}[aqiyemu4]|${C}{3}[aq]|${C}{4}[aqiyemu4cgkosw26]|${C}{6}[aqiy])`;
const NUM = '(\\d+)';

const CHK_BODY = new RegExp(`^${KEY128}:${HASH256}:${NUM}:${NUM}:${NUM}$`);
// uri.py's CHK-Verifier regex has no end anchor, so Tahoe accepts (and drops) trailing fields; we accept them too.
const CHK_VERIFIER_BODY = new RegExp(`^${KEY128}:${HASH256}:${NUM}:${NUM}:${NUM}(?::|$)`);
const SSK_BODY = new RegExp(`^${KEY128}:${HASH256}$`);
// MDMF caps may carry extension fields after the fingerprint (1.9 betas put hints there); uri.py allows `(:|$)`.
const MDMF_BODY = new RegExp(`^${KEY128}:${HASH256}(?::|$)`);
const LIT_BODY = new RegExp(`^${ANY_BYTES}$`);

interface KindSpec {
  kind: KnownCapKind;
  body: RegExp;
  isDirectory: boolean;
  isMutable: boolean;
  access: CapAccess;
  format: CapFormat;
  chkFields?: boolean;
  /** Not allowed behind `ro.` (a write cap) or behind `imm.` (a mutable object), as in uri.py's from_string. */
  writeable?: boolean;
}

const SPECS: readonly KindSpec[] = [
  { kind: 'LIT', body: LIT_BODY, isDirectory: false, isMutable: false, access: 'read', format: 'LIT' },
  { kind: 'CHK', body: CHK_BODY, isDirectory: false, isMutable: false, access: 'read', format: 'CHK', chkFields: true },
  {
    kind: 'CHK-Verifier',
    body: CHK_VERIFIER_BODY,
    isDirectory: false,
    isMutable: false,
    access: 'verify',
    format: 'CHK',
    chkFields: true,
  },
  {
    kind: 'SSK',
    body: SSK_BODY,
    isDirectory: false,
    isMutable: true,
    access: 'write',
    format: 'SDMF',
    writeable: true,
  },
  { kind: 'SSK-RO', body: SSK_BODY, isDirectory: false, isMutable: true, access: 'read', format: 'SDMF' },
  { kind: 'SSK-Verifier', body: SSK_BODY, isDirectory: false, isMutable: true, access: 'verify', format: 'SDMF' },
  {
    kind: 'MDMF',
    body: MDMF_BODY,
    isDirectory: false,
    isMutable: true,
    access: 'write',
    format: 'MDMF',
    writeable: true,
  },
  { kind: 'MDMF-RO', body: MDMF_BODY, isDirectory: false, isMutable: true, access: 'read', format: 'MDMF' },
  { kind: 'MDMF-Verifier', body: MDMF_BODY, isDirectory: false, isMutable: true, access: 'verify', format: 'MDMF' },
  {
    kind: 'DIR2',
    body: SSK_BODY,
    isDirectory: true,
    isMutable: true,
    access: 'write',
    format: 'SDMF',
    writeable: true,
  },
  { kind: 'DIR2-RO', body: SSK_BODY, isDirectory: true, isMutable: true, access: 'read', format: 'SDMF' },
  { kind: 'DIR2-Verifier', body: SSK_BODY, isDirectory: true, isMutable: true, access: 'verify', format: 'SDMF' },
  {
    kind: 'DIR2-MDMF',
    body: MDMF_BODY,
    isDirectory: true,
    isMutable: true,
    access: 'write',
    format: 'MDMF',
    writeable: true,
  },
  { kind: 'DIR2-MDMF-RO', body: MDMF_BODY, isDirectory: true, isMutable: true, access: 'read', format: 'MDMF' },
  { kind: 'DIR2-MDMF-Verifier', body: MDMF_BODY, isDirectory: true, isMutable: true, access: 'verify', format: 'MDMF' },
  {
    kind: 'DIR2-CHK',
    body: CHK_BODY,
    isDirectory: true,
    isMutable: false,
    access: 'read',
    format: 'CHK',
    chkFields: true,
  },
  {
    kind: 'DIR2-CHK-Verifier',
    body: CHK_VERIFIER_BODY,
    isDirectory: true,
    isMutable: false,
    access: 'verify',
    format: 'CHK',
    chkFields: true,
  },
  { kind: 'DIR2-LIT', body: LIT_BODY, isDirectory: true, isMutable: false, access: 'read', format: 'LIT' },
];

const SPEC_BY_KIND = new Map<string, KindSpec>(SPECS.map((spec) => [spec.kind, spec]));

/** Splits `[ro.|imm.]URI:<KIND>:<rest>`; the kind is the longest run up to the second colon. */
function splitCap(text: string): { alleged?: AllegedPrefix; kind: string; rest: string } | undefined {
  let bare = text;
  let alleged: AllegedPrefix | undefined;
  if (bare.startsWith('imm.')) {
    alleged = 'imm.';
    bare = bare.slice(4);
  } else if (bare.startsWith('ro.')) {
    alleged = 'ro.';
    bare = bare.slice(3);
  }
  if (!bare.startsWith('URI:')) {
    return undefined;
  }
  const colon = bare.indexOf(':', 4);
  if (colon < 0) {
    return undefined;
  }
  return { alleged, kind: bare.slice(4, colon), rest: bare.slice(colon + 1) };
}

/**
 * What a cap grants, judged from its `URI:<KIND>:` prefix alone, so that it works on redacted caps too
 * (`URI:CHK:<redacted:…>` is a read cap: an immutable file has no write cap). Undefined for unknown kinds.
 */
export function capAccessOf(text: string): CapAccess | undefined {
  const parts = splitCap(text);
  return parts === undefined ? undefined : SPEC_BY_KIND.get(parts.kind)?.access;
}

/**
 * Parses and classifies a cap. Caps of future formats (with or without a `ro.`/`imm.` prefix) come back as
 * `kind: 'UNKNOWN'`; text that is not a cap, or a known kind with a malformed body, throws BadCapError.
 */
export function parseCap(text: unknown): ParsedCap {
  if (typeof text !== 'string') {
    throw new BadCapError('not-a-string', 'a cap must be a string');
  }
  const parts = splitCap(text);
  if (!parts) {
    throw new BadCapError('not-a-cap', 'not a Tahoe cap (expected "URI:<kind>:…")');
  }
  const spec = SPEC_BY_KIND.get(parts.kind);
  if (!spec) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(parts.kind)) {
      throw new BadCapError('not-a-cap', 'not a Tahoe cap (bad kind field)');
    }
    return {
      known: false,
      cap: text,
      kind: 'UNKNOWN',
      alleged: parts.alleged,
      access: parts.alleged ? 'read' : undefined,
      isMutable: parts.alleged === 'imm.' ? false : undefined,
      isDirectory: undefined,
      format: undefined,
    };
  }
  const match = spec.body.exec(parts.rest);
  if (!match) {
    throw new BadCapError('malformed', `malformed URI:${spec.kind} cap`);
  }
  if ((parts.alleged === 'ro.' && spec.writeable) || (parts.alleged === 'imm.' && spec.isMutable)) {
    throw new BadCapError('prefix-mismatch', `a URI:${spec.kind} cap cannot carry the "${parts.alleged}" prefix`);
  }
  const result: {
    -readonly [K in keyof KnownCap]: KnownCap[K];
  } = {
    known: true,
    cap: text,
    bareCap: parts.alleged ? text.slice(parts.alleged.length) : text,
    kind: spec.kind,
    isDirectory: spec.isDirectory,
    isMutable: spec.isMutable,
    access: spec.access,
    format: spec.format,
  };
  if (parts.alleged) {
    result.alleged = parts.alleged;
  }
  if (spec.chkFields) {
    result.k = Number(match[1]);
    result.n = Number(match[2]);
    if (!spec.isDirectory) {
      result.size = Number(match[3]);
    }
  }
  if (spec.kind === 'LIT') {
    result.size = Math.floor((parts.rest.length * 5) / 8);
  }
  return result;
}

export function tryParseCap(text: unknown): ParsedCap | undefined {
  try {
    return parseCap(text);
  } catch (error) {
    if (error instanceof BadCapError) {
      return undefined;
    }
    throw error;
  }
}

export function isCap(text: unknown): text is string {
  return tryParseCap(text) !== undefined;
}

/** Parses a cap that must be of a kind this gateway understands (to address it in a URL, read or write it). */
export function parseKnownCap(text: unknown): KnownCap {
  const parsed = parseCap(text);
  if (!parsed.known) {
    throw new BadCapError('unknown', 'a cap of an unknown format cannot be used here');
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------------------------
// Derivation. Read-only and verify caps are one-way hashes of the stronger cap (Tahoe's `util/hashutil.py`), so they
// can be computed offline; the reverse is impossible by design.

function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    const index = B32.indexOf(char);
    if (index < 0) {
      throw new BadCapError('malformed', 'invalid base32 in cap');
    }
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

function base32Encode(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += B32[(value >> bits) & 31];
    }
  }
  if (bits > 0) {
    out += B32[(value << (5 - bits)) & 31];
  }
  return out;
}

/** SHA-256d over netstring(tag) + value, truncated to 16 bytes (hashutil.tagged_hash with KEYLEN). */
function taggedHash16(tag: string, value: Buffer): Buffer {
  const tagBytes = Buffer.from(tag, 'ascii');
  const inner = createHash('sha256').update(`${tagBytes.length}:`).update(tagBytes).update(',').update(value).digest();
  return createHash('sha256').update(inner).digest().subarray(0, 16);
}

const MUTABLE_READKEY_TAG = 'allmydata_mutable_writekey_to_readkey_v1';
const MUTABLE_STORAGEINDEX_TAG = 'allmydata_mutable_readkey_to_storage_index_v1';
const IMMUTABLE_STORAGEINDEX_TAG = 'allmydata_immutable_key_to_storage_index_v1';

const READ_ONLY_KIND: Partial<Record<KnownCapKind, KnownCapKind>> = {
  SSK: 'SSK-RO',
  MDMF: 'MDMF-RO',
  DIR2: 'DIR2-RO',
  'DIR2-MDMF': 'DIR2-MDMF-RO',
};

const VERIFY_KIND: Partial<Record<KnownCapKind, KnownCapKind>> = {
  CHK: 'CHK-Verifier',
  SSK: 'SSK-Verifier',
  'SSK-RO': 'SSK-Verifier',
  MDMF: 'MDMF-Verifier',
  'MDMF-RO': 'MDMF-Verifier',
  DIR2: 'DIR2-Verifier',
  'DIR2-RO': 'DIR2-Verifier',
  'DIR2-MDMF': 'DIR2-MDMF-Verifier',
  'DIR2-MDMF-RO': 'DIR2-MDMF-Verifier',
  'DIR2-CHK': 'DIR2-CHK-Verifier',
};

function fieldsOf(parsed: KnownCap): string[] {
  return parsed.bareCap.split(':').slice(2);
}

/**
 * The read-only cap of a write cap, computed offline exactly as Tahoe does (readkey = H(writekey), same fingerprint).
 * Read caps (immutable files, -RO caps, immutable directories) are returned unchanged, without a `ro.` prefix.
 * Verify caps have no read cap and unknown caps cannot be derived: both throw BadCapError.
 */
export function readOnlyCapOf(cap: string): string {
  const parsed = parseKnownCap(cap);
  if (parsed.access === 'verify') {
    throw new BadCapError('wrong-kind', `a URI:${parsed.kind} cap grants no read access`);
  }
  const roKind = READ_ONLY_KIND[parsed.kind];
  if (roKind === undefined) {
    return parsed.bareCap;
  }
  const [writekey, fingerprint] = fieldsOf(parsed);
  const readkey = taggedHash16(MUTABLE_READKEY_TAG, base32Decode(writekey));
  return `URI:${roKind}:${base32Encode(readkey)}:${fingerprint}`;
}

/**
 * The verify cap (check/repair only) of any cap, computed offline. LIT caps have none (their data is in the cap):
 * undefined. Verify caps are returned unchanged.
 */
export function verifyCapOf(cap: string): string | undefined {
  const parsed = parseKnownCap(cap);
  if (parsed.access === 'verify') {
    return parsed.bareCap;
  }
  const verifyKind = VERIFY_KIND[parsed.kind];
  if (verifyKind === undefined) {
    return undefined;
  }
  const fields = fieldsOf(parsed);
  if (parsed.format === 'CHK') {
    const storageIndex = taggedHash16(IMMUTABLE_STORAGEINDEX_TAG, base32Decode(fields[0]));
    return `URI:${verifyKind}:${base32Encode(storageIndex)}:${fields.slice(1, 5).join(':')}`;
  }
  let readkey = base32Decode(fields[0]);
  if (parsed.access === 'write') {
    readkey = taggedHash16(MUTABLE_READKEY_TAG, readkey);
  }
  const storageIndex = taggedHash16(MUTABLE_STORAGEINDEX_TAG, readkey);
  return `URI:${verifyKind}:${base32Encode(storageIndex)}:${fields[1]}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Redaction. A keyed hash rather than a plain one: a LIT cap *is* its file's data, so a plain short hash of a LIT
// cap holding a few guessable bytes (a PIN, "yes") could be confirmed by brute force. The key is random per process
// unless the application sets a stable secret (e.g. to correlate logs across restarts and gateways).

let redactionKey: Buffer = randomBytes(32);

export function setCapRedactionKey(key: string | Uint8Array): void {
  redactionKey = Buffer.from(key);
}

/** A short tag that identifies a cap in logs without revealing it. */
export function capFingerprint(cap: string): string {
  return createHmac('sha256', redactionKey).update(cap).digest('hex').slice(0, 8);
}

/**
 * Redacts one cap for logs: keeps `[ro.|imm.]URI:<KIND>:` and replaces the secret part with a short keyed hash,
 * e.g. `URI:DIR2:<redacted:1a2b3c4d>`. Text that is not shaped like a cap is replaced entirely.
 */
export function redactCap(cap: string): string {
  const parts = splitCap(cap);
  if (!parts) {
    return `<redacted:${capFingerprint(cap)}>`;
  }
  return `${parts.alleged ?? ''}URI:${parts.kind}:<redacted:${capFingerprint(cap)}>`;
}

// Finds caps anywhere in text: plain, or percent-encoded in URLs (`URI%3ADIR2%3A…`), with or without a prefix.
// The body stops at characters that never occur in a cap (quotes, spaces, slashes, brackets, …).
const CAP_IN_TEXT =
  /(?:\b(?:ro|imm)\.)?URI(?::|%3[Aa])([A-Za-z0-9][A-Za-z0-9._-]*)(?::|%3[Aa])((?:[A-Za-z0-9._~-]|:|%3[Aa])*)/g;

/**
 * Redacts every cap found in free text (error bodies, tracebacks, URLs) so the text can be logged or shown. Text
 * redacted already comes back unchanged.
 */
export function redactCapsInText(text: string): string {
  return text.replace(CAP_IN_TEXT, (match: string, _kind: string, body: string, offset: number) => {
    // A cap redacted already reads as a cap with an empty body: redacting text twice must change nothing.
    if (body === '' && text.startsWith('<redacted:', offset + match.length)) {
      return match;
    }
    // Colons ending a cap's body are the text's punctuation ("… URI:…: 503"): no cap ends with one.
    const punctuation = /[^:]:+$/.test(body) ? (/:+$/.exec(body)?.[0] ?? '') : '';
    const decoded = match.slice(0, match.length - punctuation.length).replace(/%3[Aa]/g, ':');
    return redactCap(decoded) + punctuation;
  });
}

/** The data of a LIT file cap (a LIT cap holds its file's bytes, base32-encoded); undefined for any other cap. */
/** Tahoe keeps files up to this size inside their cap (URI_LIT_SIZE_THRESHOLD): no share is stored anywhere. */
export const LIT_MAX_BYTES = 55;

/**
 * The cap Tahoe gives bytes of at most LIT_MAX_BYTES (a LIT cap holds the data itself, base32): made here, it costs
 * no request. Undefined for more bytes.
 */
export function litCapOf(data: Uint8Array): string | undefined {
  return data.length <= LIT_MAX_BYTES ? `URI:LIT:${base32Encode(data)}` : undefined;
}

export function litData(cap: string): Buffer | undefined {
  const parsed = tryParseCap(cap);
  if (!parsed?.known || parsed.kind !== 'LIT') {
    return undefined;
  }
  return base32Decode(parsed.bareCap.slice('URI:LIT:'.length));
}
