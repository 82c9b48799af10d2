import {
  parseCheckAndRepairResults,
  parseCheckResults,
  parseDirectoryListing,
  parseManifestLine,
  parseNode,
  parseStatistics,
  parseWelcome,
} from './tahoe-json.util';

// JSON as returned by a tahoe-lafs 1.20.0 local grid (trimmed where marked); caps are real ones from that grid.
const CHK = 'URI:CHK:iuj5q2kzv6a2adoxradm76ohry:vjxdsgmmssd2juettexqtietk7fgdbsuntpn43s7xu7zdmk3z6ha:2:3:1000';
const CHK_V =
  'URI:CHK-Verifier:n3nc6u47ak34kyxxwnvhzzvib4:vjxdsgmmssd2juettexqtietk7fgdbsuntpn43s7xu7zdmk3z6ha:2:3:1000';
const DIR = 'URI:DIR2:zauk2nekb77b6ea63cklotyrm4:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q';
const DIR_RO = 'URI:DIR2-RO:paivcf3fdg4yfjnh4bsysfo7my:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q';
const DIR_V = 'URI:DIR2-Verifier:3wcjir4qwwevrx4toiqquiotrq:fwbc2lal5s3ikzxxjc7gkvfg5gn4l5hxzqooikg7yqeigs5x456q';
const SUB_MDMF = 'URI:DIR2-MDMF:auo3ke3p64f4epchc5awwisjzm:xbzpvtqe7ijos2d4oszb27da3aqpk3gxtmcfnmecnaqsq3e3twka';

const LISTING = [
  'dirnode',
  {
    children: {
      f1: [
        'filenode',
        {
          mutable: false,
          format: 'CHK',
          size: 11,
          metadata: { tahoe: { linkcrtime: 1795523033.96216, linkmotime: 1795523033.96216 } },
          ro_uri: 'URI:LIT:nbswy3dpeb3w64tmmq',
        },
      ],
      moved: [
        'filenode',
        {
          mutable: false,
          format: 'CHK',
          size: 1000,
          ro_uri: CHK,
          verify_uri: CHK_V,
          metadata: {
            riverfs: { mode: 420 },
            tahoe: { linkcrtime: 1795523034.7128613, linkmotime: 1795523034.7128613 },
          },
        },
      ],
      sub: ['dirnode', { mutable: true, rw_uri: SUB_MDMF, metadata: { tahoe: { linkcrtime: 1, linkmotime: 2 } } }],
      future: [
        'unknown',
        {
          metadata: { tahoe: { linkcrtime: 1795522995.0511913, linkmotime: 1795522995.0511913 } },
          ro_uri: 'ro.URI:NEW:abcdefgh:ijklmnop',
        },
      ],
      ['__proto__']: ['filenode', { mutable: false, format: 'CHK', size: 1000, ro_uri: CHK }],
      garbage: 'not a node',
    },
    ro_uri: DIR_RO,
    rw_uri: DIR,
    verify_uri: DIR_V,
    mutable: true,
  },
];

describe('parseNode and parseDirectoryListing', () => {
  it('should parse a real directory listing into typed children', () => {
    const listing = parseDirectoryListing(JSON.parse(JSON.stringify(LISTING)));
    expect(listing).toMatchObject({
      type: 'directory',
      mutable: true,
      rwUri: DIR,
      roUri: DIR_RO,
      verifyUri: DIR_V,
      format: 'SDMF',
    });
    const children = listing!.children;
    expect(children.get('f1')).toMatchObject({ type: 'file', mutable: false, format: 'CHK', size: 11 });
    expect(children.get('f1')?.metadata).toMatchObject({ linkcrtime: 1795523033.96216, linkmotime: 1795523033.96216 });
    expect(children.get('moved')?.metadata?.custom).toEqual({ riverfs: { mode: 420 } });
    expect(children.get('moved')).toMatchObject({ roUri: CHK, verifyUri: CHK_V });
    // Tahoe's listing has no format for directories: it comes from the cap prefix.
    expect(children.get('sub')).toMatchObject({ type: 'directory', mutable: true, format: 'MDMF', rwUri: SUB_MDMF });
    expect(children.get('future')).toMatchObject({ type: 'unknown', roUri: 'ro.URI:NEW:abcdefgh:ijklmnop' });
    expect(children.get('garbage')).toEqual({ type: 'unknown' });
  });

  it('should keep a child named __proto__ as an ordinary entry', () => {
    const listing = parseDirectoryListing(JSON.parse(JSON.stringify(LISTING)));
    expect(listing!.children.get('__proto__')).toMatchObject({ type: 'file', size: 1000 });
    expect(listing!.children.size).toBe(6);
  });

  it('should parse a file node addressed by cap, which has no metadata', () => {
    const node = parseNode(['filenode', { mutable: false, format: 'CHK', size: 1000, ro_uri: CHK, verify_uri: CHK_V }]);
    expect(node).toEqual({ type: 'file', mutable: false, format: 'CHK', size: 1000, roUri: CHK, verifyUri: CHK_V });
  });

  it('should report what Tahoe answers for a bogus cap as an unknown node, not a directory', () => {
    expect(parseNode(['unknown', {}])).toEqual({ type: 'unknown' });
    expect(parseDirectoryListing(['unknown', {}])).toBeUndefined();
    expect(parseNode(null)).toEqual({ type: 'unknown' });
  });
});

describe('parseCheckResults and parseCheckAndRepairResults', () => {
  const HEALTHY = {
    'storage-index': 'n3nc6u47ak34kyxxwnvhzzvib4',
    summary: 'Healthy',
    results: {
      'count-happiness': 3,
      'count-shares-good': 3,
      'count-shares-needed': 2,
      'count-shares-expected': 3,
      'count-good-share-hosts': 3,
      'count-corrupt-shares': 0,
      'list-corrupt-shares': [],
      'servers-responding': ['v0-74vc', 'v0-msmr', 'v0-rfuq'],
      sharemap: { '1': ['v0-74vc'], '2': ['v0-msmr'], '0': ['v0-rfuq'] },
      'count-wrong-shares': 0,
      'count-recoverable-versions': 1,
      'count-unrecoverable-versions': 0,
      healthy: true,
      recoverable: true,
    },
  };

  it('should parse a real check result', () => {
    expect(parseCheckResults(HEALTHY)).toMatchObject({
      storageIndex: 'n3nc6u47ak34kyxxwnvhzzvib4',
      healthy: true,
      recoverable: true,
      countSharesGood: 3,
      countSharesNeeded: 2,
      countHappiness: 3,
      serversResponding: ['v0-74vc', 'v0-msmr', 'v0-rfuq'],
      sharemap: { '0': ['v0-rfuq'], '1': ['v0-74vc'], '2': ['v0-msmr'] },
    });
  });

  it('should parse the LIT answer, which has only healthy', () => {
    const lit = parseCheckResults({ 'storage-index': '', results: { healthy: true } });
    expect(lit).toMatchObject({ storageIndex: '', healthy: true });
    expect(lit.recoverable).toBeUndefined();
  });

  it('should parse a check-and-repair result, and the plain LIT answer to one', () => {
    const repaired = parseCheckAndRepairResults({
      'storage-index': 'n3nc6u47ak34kyxxwnvhzzvib4',
      'repair-attempted': true,
      'repair-successful': true,
      'pre-repair-results': { ...HEALTHY, results: { ...HEALTHY.results, healthy: false, 'count-shares-good': 2 } },
      'post-repair-results': HEALTHY,
    });
    expect(repaired).toMatchObject({ repairAttempted: true, repairSuccessful: true });
    expect(repaired.preRepair).toMatchObject({ healthy: false, countSharesGood: 2 });
    expect(repaired.postRepair).toMatchObject({ healthy: true, countSharesGood: 3 });
    const lit = parseCheckAndRepairResults({ 'storage-index': '', results: { healthy: true } });
    expect(lit).toMatchObject({ repairAttempted: false, postRepair: { healthy: true } });
  });
});

describe('parseManifestLine', () => {
  it('should parse real manifest lines of each type', () => {
    expect(
      parseManifestLine(
        `{"path": ["sub", "file\\u00e9 x"], "cap": "${CHK}", "type": "file", "verifycap": "${CHK_V}", "repaircap": "${CHK_V}", "storage-index": "fykzh5tfzqixhsgk2fgnpzn45e"}`,
      ),
    ).toEqual({
      type: 'file',
      path: ['sub', 'file\u00e9 x'],
      cap: CHK,
      verifyCap: CHK_V,
      repairCap: CHK_V,
      storageIndex: 'fykzh5tfzqixhsgk2fgnpzn45e',
    });
    expect(
      parseManifestLine(
        '{"path": ["future"], "cap": "ro.URI:NEW:abcdefgh:ijklmnop", "type": "unknown", "verifycap": "", "repaircap": "", "storage-index": ""}',
      ),
    ).toEqual({ type: 'unknown', path: ['future'], cap: 'ro.URI:NEW:abcdefgh:ijklmnop' });
    expect(parseManifestLine('{"type": "stats", "stats": {"count-files": 1, "count-directories": 2}}')).toEqual({
      type: 'stats',
      stats: { 'count-files': 1, 'count-directories': 2 },
    });
  });

  it('should skip lines that are not entries', () => {
    expect(parseManifestLine('not json')).toBeUndefined();
    expect(parseManifestLine('{"type": "file"}')).toBeUndefined();
  });
});

describe('parseWelcome and GridStatus', () => {
  const WELCOME = {
    introducers: { statuses: ['Connected to tcp:127.0.0.1:47100 via tcp'] },
    servers: [
      {
        nodeid: 'v0-74vc',
        connection_status: 'connected',
        available_space: 84705419264,
        nickname: 'storage2',
        version: 'tahoe-lafs/1.20.0',
        last_received_data: 1795523055.3867617,
      },
      {
        nodeid: 'v0-msmr',
        connection_status:
          "failure: [Failure instance: Traceback: <class 'twisted.internet.error.ConnectionRefusedError'>: Connection was refused by other side: 111: Connection refused.\n…]",
        available_space: 84705431552,
        nickname: 'storage1',
        version: 'tahoe-lafs/1.20.0',
        last_received_data: 1795523053.3869,
      },
      {
        nodeid: 'v0-rfuq',
        connection_status: 'connected',
        available_space: null,
        nickname: 'storage3',
        version: 'tahoe-lafs/1.20.0',
        last_received_data: 1795523055.3912504,
      },
    ],
  };

  it('should parse the real welcome JSON of a grid with one storage node down', () => {
    const status = parseWelcome(WELCOME);
    expect(status.servers).toHaveLength(3);
    expect(status.connectedCount).toBe(2);
    expect(status.connectedIntroducers).toBe(1);
    expect(status.servers[1]).toMatchObject({ nickname: 'storage1', connected: false });
    expect(status.servers[2]).toMatchObject({ availableSpace: null, connected: true });
    expect(status.availableSpace).toBe(84705419264);
  });

  it('should call the grid happy only with enough connected servers that have sent data', () => {
    const status = parseWelcome(WELCOME);
    expect(status.isHappy(2)).toBe(true);
    expect(status.isHappy(3)).toBe(false);
    const silent = parseWelcome({ servers: [{ ...WELCOME.servers[0], last_received_data: null }] });
    expect(silent.isHappy(1)).toBe(false);
    expect(status.isHappy(2, { maxSilenceSeconds: 120, nowSeconds: 1795523055 + 60 })).toBe(true);
    expect(status.isHappy(2, { maxSilenceSeconds: 120, nowSeconds: 1795523055 + 600 })).toBe(false);
  });

  it('should count Foolscap "Connected to" statuses as connected', () => {
    const status = parseWelcome({
      servers: [{ nodeid: 'v0-x', connection_status: 'Connected to tcp:127.0.0.1:1 via tcp', last_received_data: 1 }],
    });
    expect(status.connectedCount).toBe(1);
  });

  it('should survive a body that is not the welcome JSON', () => {
    expect(parseWelcome('nonsense').connectedCount).toBe(0);
  });
});

describe('parseStatistics', () => {
  it('should keep numeric counters and stats', () => {
    const stats = parseStatistics({
      counters: { 'uploader.files_uploaded': 8, 'mutable.files_published': 29 },
      stats: { 'node.uptime': 74.47857069969177, 'cpu_monitor.1min_avg': 0.03, odd: 'x' },
    });
    expect(stats.counters).toEqual({ 'uploader.files_uploaded': 8, 'mutable.files_published': 29 });
    expect(stats.stats).toEqual({ 'node.uptime': 74.47857069969177, 'cpu_monitor.1min_avg': 0.03 });
  });
});
