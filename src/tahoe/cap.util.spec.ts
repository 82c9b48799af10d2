import {
  BadCapError,
  capFingerprint,
  isCap,
  LIT_MAX_BYTES,
  litCapOf,
  litData,
  KNOWN_CAP_KINDS,
  type KnownCap,
  parseCap,
  parseKnownCap,
  readOnlyCapOf,
  redactCap,
  redactCapsInText,
  verifyCapOf,
} from './cap.util';

/**
 * Real caps, produced by tahoe-lafs 1.20.0 on a local grid (1 introducer, 3 storage nodes, k=2 happy=3 N=3) with
 * `PUT /uri`, `PUT /uri?format=SDMF|MDMF`, `POST /uri?t=mkdir[&format=MDMF]` and `POST /uri?t=mkdir-immutable`;
 * each read-only and verify cap is the one the grid itself reported in `t=json` for the write cap above it.
 */
const REAL = {
  LIT: 'URI:LIT:nbswy3dp', // "hello"
  LIT_EMPTY: 'URI:LIT:',
  LIT_55: 'URI:LIT:mfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylb',
  CHK: 'URI:CHK:iuj5q2kzv6a2adoxradm76ohry:vjxdsgmmssd2juettexqtietk7fgdbsuntpn43s7xu7zdmk3z6ha:2:3:1000',
  CHK_56: 'URI:CHK:4x64n5jwaypdowjyfqw3y5pbpu:7vj3am3lcfgn7uens3x5gb4i5ojsibr3ey75xuitnszh7q7bxmca:2:3:56',
  'CHK-Verifier':
    'URI:CHK-Verifier:n3nc6u47ak34kyxxwnvhzzvib4:vjxdsgmmssd2juettexqtietk7fgdbsuntpn43s7xu7zdmk3z6ha:2:3:1000',
  SSK: 'URI:SSK:73zwzzy676a2zlks2z3f7ikdoi:kv4dtcpnhaa4fmsgcfepsix5yzbxpyv7o5wvcf72yxwmpuc4rvkq',
  'SSK-RO': 'URI:SSK-RO:zleifa5vwu45iff4chomobrcma:kv4dtcpnhaa4fmsgcfepsix5yzbxpyv7o5wvcf72yxwmpuc4rvkq',
  'SSK-Verifier': 'URI:SSK-Verifier:akmffc72pokhg2rz4asrphyo5e:kv4dtcpnhaa4fmsgcfepsix5yzbxpyv7o5wvcf72yxwmpuc4rvkq',
  MDMF: 'URI:MDMF:gxy2gsk5n6wl4ila3xovpgm7sq:nkzedjopfseg6xxb55nfcs2eosus7eazeciahyrbr7jllrjijyva',
  'MDMF-RO': 'URI:MDMF-RO:qnqmwgduljc4xo4dok3bub662u:nkzedjopfseg6xxb55nfcs2eosus7eazeciahyrbr7jllrjijyva',
  'MDMF-Verifier': 'URI:MDMF-Verifier:hogtag3yvqx7t63h5iouuqdloi:nkzedjopfseg6xxb55nfcs2eosus7eazeciahyrbr7jllrjijyva',
  DIR2: 'URI:DIR2:zauk2nekb77b6ea63cklotyrm4:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q',
  'DIR2-RO': 'URI:DIR2-RO:paivcf3fdg4yfjnh4bsysfo7my:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q',
  'DIR2-Verifier': 'URI:DIR2-Verifier:3wcjir4qwwevrx4toiqquiotrq:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q',
  'DIR2-MDMF': 'URI:DIR2-MDMF:auo3ke3p64f4epchc5awwisjzm:xbzpvtqe7ijos2d4oszb27da3aqpk3gxtmcfnmecnaqsq3e3twka',
  'DIR2-MDMF-RO': 'URI:DIR2-MDMF-RO:ljb76qe4yt3p2duect7v2zhbcu:xbzpvtqe7ijos2d4oszb27da3aqpk3gxtmcfnmecnaqsq3e3twka',
  'DIR2-MDMF-Verifier':
    'URI:DIR2-MDMF-Verifier:blqdda5d7ieyhhukrfrc776y6a:xbzpvtqe7ijos2d4oszb27da3aqpk3gxtmcfnmecnaqsq3e3twka',
  'DIR2-CHK': 'URI:DIR2-CHK:vhkzlnzskch7qxhoyonmzhenhy:svglt73e3kcaslejadyaam7b7b6kwxck7zyjfrzygpvafi2apg6q:2:3:153',
  'DIR2-CHK-Verifier':
    'URI:DIR2-CHK-Verifier:ybi6hid5i6aejgv3afj7jyd32i:svglt73e3kcaslejadyaam7b7b6kwxck7zyjfrzygpvafi2apg6q:2:3:153',
  'DIR2-LIT': 'URI:DIR2-LIT:gmzdumj2miwdcnr2kvjesosmjfkdu3tcon3xsm3eoawdaormgi5hw7jmfq',
  // Listed by the same grid for children linked with set_children / mkdir-immutable from caps of an unknown format.
  UNKNOWN_RO: 'ro.URI:NEW:abcdefgh:ijklmnop',
  UNKNOWN_IMM: 'imm.URI:NEW:abcdefgh:ijklmnop',
  UNKNOWN_RW: 'URI:NEWRW:aaaa',
} as const;

type Expectation = Pick<KnownCap, 'kind' | 'isDirectory' | 'isMutable' | 'access' | 'format'> & {
  size?: number;
  k?: number;
  n?: number;
};

const EXPECTED: Record<(typeof KNOWN_CAP_KINDS)[number], [string, Expectation]> = {
  LIT: [REAL.LIT, { kind: 'LIT', isDirectory: false, isMutable: false, access: 'read', format: 'LIT', size: 5 }],
  CHK: [
    REAL.CHK,
    { kind: 'CHK', isDirectory: false, isMutable: false, access: 'read', format: 'CHK', size: 1000, k: 2, n: 3 },
  ],
  'CHK-Verifier': [
    REAL['CHK-Verifier'],
    {
      kind: 'CHK-Verifier',
      isDirectory: false,
      isMutable: false,
      access: 'verify',
      format: 'CHK',
      size: 1000,
      k: 2,
      n: 3,
    },
  ],
  SSK: [REAL.SSK, { kind: 'SSK', isDirectory: false, isMutable: true, access: 'write', format: 'SDMF' }],
  'SSK-RO': [REAL['SSK-RO'], { kind: 'SSK-RO', isDirectory: false, isMutable: true, access: 'read', format: 'SDMF' }],
  'SSK-Verifier': [
    REAL['SSK-Verifier'],
    { kind: 'SSK-Verifier', isDirectory: false, isMutable: true, access: 'verify', format: 'SDMF' },
  ],
  MDMF: [REAL.MDMF, { kind: 'MDMF', isDirectory: false, isMutable: true, access: 'write', format: 'MDMF' }],
  'MDMF-RO': [
    REAL['MDMF-RO'],
    { kind: 'MDMF-RO', isDirectory: false, isMutable: true, access: 'read', format: 'MDMF' },
  ],
  'MDMF-Verifier': [
    REAL['MDMF-Verifier'],
    { kind: 'MDMF-Verifier', isDirectory: false, isMutable: true, access: 'verify', format: 'MDMF' },
  ],
  DIR2: [REAL.DIR2, { kind: 'DIR2', isDirectory: true, isMutable: true, access: 'write', format: 'SDMF' }],
  'DIR2-RO': [REAL['DIR2-RO'], { kind: 'DIR2-RO', isDirectory: true, isMutable: true, access: 'read', format: 'SDMF' }],
  'DIR2-Verifier': [
    REAL['DIR2-Verifier'],
    { kind: 'DIR2-Verifier', isDirectory: true, isMutable: true, access: 'verify', format: 'SDMF' },
  ],
  'DIR2-MDMF': [
    REAL['DIR2-MDMF'],
    { kind: 'DIR2-MDMF', isDirectory: true, isMutable: true, access: 'write', format: 'MDMF' },
  ],
  'DIR2-MDMF-RO': [
    REAL['DIR2-MDMF-RO'],
    { kind: 'DIR2-MDMF-RO', isDirectory: true, isMutable: true, access: 'read', format: 'MDMF' },
  ],
  'DIR2-MDMF-Verifier': [
    REAL['DIR2-MDMF-Verifier'],
    { kind: 'DIR2-MDMF-Verifier', isDirectory: true, isMutable: true, access: 'verify', format: 'MDMF' },
  ],
  'DIR2-CHK': [
    REAL['DIR2-CHK'],
    { kind: 'DIR2-CHK', isDirectory: true, isMutable: false, access: 'read', format: 'CHK', k: 2, n: 3 },
  ],
  'DIR2-CHK-Verifier': [
    REAL['DIR2-CHK-Verifier'],
    { kind: 'DIR2-CHK-Verifier', isDirectory: true, isMutable: false, access: 'verify', format: 'CHK', k: 2, n: 3 },
  ],
  'DIR2-LIT': [
    REAL['DIR2-LIT'],
    { kind: 'DIR2-LIT', isDirectory: true, isMutable: false, access: 'read', format: 'LIT' },
  ],
};

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof BadCapError ? error.reason : `not a BadCapError: ${String(error)}`;
  }
  return undefined;
}

describe('parseCap', () => {
  it.each(Object.entries(EXPECTED))('should classify a real %s cap', (_kind, [cap, expected]) => {
    const parsed = parseKnownCap(cap);
    expect(parsed).toMatchObject({ known: true, cap, bareCap: cap, ...expected });
    if (expected.size === undefined) {
      expect(parsed.size).toBeUndefined();
    }
    if (expected.k === undefined) {
      expect(parsed.k).toBeUndefined();
      expect(parsed.n).toBeUndefined();
    }
  });

  it('should cover every known kind with a real fixture', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...KNOWN_CAP_KINDS].sort());
  });

  it('should compute LIT sizes at both ends of the LIT range', () => {
    expect(parseKnownCap(REAL.LIT_EMPTY).size).toBe(0);
    expect(parseKnownCap(REAL.LIT_55).size).toBe(55);
    expect(parseKnownCap(REAL.CHK_56)).toMatchObject({ kind: 'CHK', size: 56 });
  });

  it('should accept trailing extension fields on MDMF-family caps as Tahoe does', () => {
    // Tahoe 1.9 betas put hints after the fingerprint; uri.py still accepts `:…` there (checked with from_string).
    for (const cap of [REAL.MDMF, REAL['MDMF-RO'], REAL['MDMF-Verifier'], REAL['DIR2-MDMF']]) {
      expect(parseKnownCap(`${cap}:3:131073`).kind).toBe(parseKnownCap(cap).kind);
    }
  });

  it('should reject trailing fields on caps whose grammar ends at the fingerprint', () => {
    expect(reason(() => parseCap(`${REAL.SSK}:3:131073`))).toBe('malformed');
    expect(reason(() => parseCap(`${REAL.DIR2}:x`))).toBe('malformed');
    expect(reason(() => parseCap(`${REAL.CHK}:7`))).toBe('malformed');
  });

  it('should classify ro./imm. prefixed unknown caps from directory listings by what the prefix asserts', () => {
    expect(parseCap(REAL.UNKNOWN_RO)).toMatchObject({ known: false, kind: 'UNKNOWN', alleged: 'ro.', access: 'read' });
    expect(parseCap(REAL.UNKNOWN_RO).isMutable).toBeUndefined();
    expect(parseCap(REAL.UNKNOWN_IMM)).toMatchObject({
      kind: 'UNKNOWN',
      alleged: 'imm.',
      access: 'read',
      isMutable: false,
    });
    const bare = parseCap(REAL.UNKNOWN_RW);
    expect(bare).toMatchObject({ known: false, kind: 'UNKNOWN' });
    expect(bare.access).toBeUndefined();
  });

  it('should accept known caps behind a consistent prefix and keep the bare cap for URLs', () => {
    expect(parseKnownCap(`ro.${REAL['DIR2-RO']}`)).toMatchObject({
      kind: 'DIR2-RO',
      alleged: 'ro.',
      bareCap: REAL['DIR2-RO'],
    });
    expect(parseKnownCap(`imm.${REAL.CHK}`)).toMatchObject({ kind: 'CHK', alleged: 'imm.', bareCap: REAL.CHK });
  });

  it('should reject a prefix that contradicts the cap, as Tahoe does', () => {
    expect(reason(() => parseCap(`ro.${REAL.DIR2}`))).toBe('prefix-mismatch');
    expect(reason(() => parseCap(`imm.${REAL['MDMF-RO']}`))).toBe('prefix-mismatch');
  });

  it.each([
    ['an empty string', ''],
    ['plain text', 'hello'],
    ['a cap without a body separator', 'URI:CHK'],
    ['a lowercase scheme', REAL.CHK.toLowerCase()],
    ['leading whitespace', ` ${REAL.CHK}`],
    ['a bad kind field', 'URI:<x>:abc'],
  ])('should reject %s as not a cap', (_label, text) => {
    expect(reason(() => parseCap(text))).toBe('not-a-cap');
  });

  it.each([
    ['a CHK key one character short', REAL.CHK.replace('iuj5q2kzv6a2adoxradm76ohry', 'iuj5q2kzv6a2adoxradm76ohr')],
    ['a CHK key with a non-zero padding bit', REAL.CHK.replace('ohry:', 'ohrz:')],
    ['a CHK size that is not a number', REAL.CHK.replace(':1000', ':1k')],
    ['uppercase base32', `URI:SSK:${REAL.SSK.slice('URI:SSK:'.length).toUpperCase()}`],
    ['a LIT body of impossible length', 'URI:LIT:nbswy3dpa'],
    ['a DIR2 cap with a truncated fingerprint', REAL.DIR2.slice(0, -1)],
    ['a cap with trailing whitespace', `${REAL.MDMF} `],
  ])('should reject %s as malformed', (_label, text) => {
    expect(reason(() => parseCap(text))).toBe('malformed');
  });

  it('should reject non-strings with a typed error', () => {
    expect(reason(() => parseCap(42))).toBe('not-a-string');
    expect(isCap(undefined)).toBe(false);
    expect(isCap(REAL.CHK)).toBe(true);
  });

  it('should refuse unknown caps where a known one is required', () => {
    expect(reason(() => parseKnownCap(REAL.UNKNOWN_RO))).toBe('unknown');
  });

  it('should never quote the cap in a BadCapError message', () => {
    const broken = REAL.DIR2.slice(0, -1);
    try {
      parseCap(broken);
      throw new Error('expected a BadCapError');
    } catch (error) {
      expect((error as Error).message).not.toContain('zauk2nekb77b6ea63cklotyrm4');
    }
  });
});

describe('readOnlyCapOf and verifyCapOf', () => {
  // The grid's own triples (write, read, verify) for every mutable kind: the offline derivation must match them.
  const TRIPLES: [string, string, string][] = [
    [REAL.SSK, REAL['SSK-RO'], REAL['SSK-Verifier']],
    [REAL.MDMF, REAL['MDMF-RO'], REAL['MDMF-Verifier']],
    [REAL.DIR2, REAL['DIR2-RO'], REAL['DIR2-Verifier']],
    [REAL['DIR2-MDMF'], REAL['DIR2-MDMF-RO'], REAL['DIR2-MDMF-Verifier']],
  ];

  it.each(TRIPLES)('should derive the read-only and verify caps the grid reported for %s', (write, read, verify) => {
    expect(readOnlyCapOf(write)).toBe(read);
    expect(verifyCapOf(write)).toBe(verify);
    expect(verifyCapOf(read)).toBe(verify);
    expect(readOnlyCapOf(read)).toBe(read);
  });

  it('should derive the verify caps the grid reported for immutable files and directories', () => {
    expect(verifyCapOf(REAL.CHK)).toBe(REAL['CHK-Verifier']);
    expect(verifyCapOf(REAL['DIR2-CHK'])).toBe(REAL['DIR2-CHK-Verifier']);
    expect(readOnlyCapOf(REAL.CHK)).toBe(REAL.CHK);
  });

  it('should report that LIT caps have no verify cap', () => {
    expect(verifyCapOf(REAL.LIT)).toBeUndefined();
    expect(verifyCapOf(REAL['DIR2-LIT'])).toBeUndefined();
  });

  it('should refuse to derive a read cap from a verify cap or an unknown cap', () => {
    expect(reason(() => readOnlyCapOf(REAL['DIR2-Verifier']))).toBe('wrong-kind');
    expect(reason(() => readOnlyCapOf(REAL.UNKNOWN_RO))).toBe('unknown');
    expect(verifyCapOf(REAL['MDMF-Verifier'])).toBe(REAL['MDMF-Verifier']);
  });
});

describe('redactCap and redactCapsInText', () => {
  const SECRET_PARTS = ['zauk2nekb77b6ea63cklotyrm4', 'fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q'];

  it('should keep the prefix and replace the secret with a short tag', () => {
    const redacted = redactCap(REAL.DIR2);
    expect(redacted).toMatch(/^URI:DIR2:<redacted:[0-9a-f]{8}>$/);
    for (const part of SECRET_PARTS) {
      expect(redacted).not.toContain(part);
    }
    expect(redactCap(REAL.UNKNOWN_IMM)).toMatch(/^imm\.URI:NEW:<redacted:[0-9a-f]{8}>$/);
  });

  it('should give the same cap the same tag and different caps different tags', () => {
    expect(redactCap(REAL.DIR2)).toBe(redactCap(REAL.DIR2));
    expect(capFingerprint(REAL.DIR2)).not.toBe(capFingerprint(REAL['DIR2-RO']));
  });

  it('should redact every cap in a traceback, an HTML page and a URL, including percent-encoded ones', () => {
    const encoded = REAL.DIR2.replace(/:/g, '%3A');
    const text = [
      `Traceback: allmydata.uri.BadURIError: b'${REAL.CHK}' doesn't look like a cap`,
      `<p>Your browser approached me (at /uri/${REAL['DIR2-Verifier']}?t=check&amp;output=JSON)</p>`,
      `GET http://127.0.0.1:3456/uri/${encoded}/child?t=json`,
      `"ro_uri": "${REAL.UNKNOWN_RO}", "rw_uri": "${REAL.UNKNOWN_RW}"`,
      `empty lit ${REAL.LIT_EMPTY} end`,
    ].join('\n');
    const redacted = redactCapsInText(text);
    for (const secret of [
      ...SECRET_PARTS,
      'iuj5q2kzv6a2adoxradm76ohry',
      '3wcjir4qwwevrx4toiqquiotrq',
      'abcdefgh:ijklmnop',
      'NEWRW:aaaa',
    ]) {
      expect(redacted).not.toContain(secret);
    }
    expect(redacted).toContain(`URI:DIR2:<redacted:${capFingerprint(REAL.DIR2)}>/child?t=json`);
    expect(redacted).toContain("doesn't look like a cap");
    expect(redacted).toContain('?t=check&amp;output=JSON)');
    expect(redacted).toContain('ro.URI:NEW:<redacted:');
  });

  it('should leave text redacted already unchanged, and keep the colon that follows a cap', () => {
    const once = redactCapsInText(`publish of ${REAL.DIR2}: 503 Service Unavailable`);
    expect(once).toBe(`publish of URI:DIR2:<redacted:${capFingerprint(REAL.DIR2)}>: 503 Service Unavailable`);
    expect(redactCapsInText(once)).toBe(once);
    const mixed = `${once}; then ${REAL['DIR2-RO']} answered`;
    expect(redactCapsInText(mixed)).toBe(
      `${once}; then URI:DIR2-RO:<redacted:${capFingerprint(REAL['DIR2-RO'])}> answered`,
    );
  });

  it('should leave text without caps unchanged', () => {
    const text = 'No such child: notes.txt (URI is the scheme name)';
    expect(redactCapsInText(text)).toBe(text);
  });
});

describe('litCapOf', () => {
  it('should make the cap Tahoe makes for small files, and none for larger ones', () => {
    // Tahoe 1.20 answered PUT /uri with this cap for "hello\n" on the test grid.
    expect(litCapOf(Buffer.from('hello\n'))).toBe('URI:LIT:nbswy3dpbi');
    expect(litCapOf(Buffer.alloc(0))).toBe('URI:LIT:');
    const largest = Buffer.from(Array.from({ length: LIT_MAX_BYTES }, (_, index) => (index * 37) % 256));
    expect(litData(litCapOf(largest)!)).toEqual(largest);
    expect(litCapOf(Buffer.alloc(LIT_MAX_BYTES + 1))).toBeUndefined();
  });
});
