import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from './process.util';
import { withFileLock } from './file-lock';
import { GridError } from './grid.errors';

export const TAHOE_VERSION = '1.20.0';
/** tahoe-lafs 1.20.0 imports the stdlib `cgi` module, which Python 3.13 removed. */
const SUPPORTED_PYTHON = [
  [3, 11],
  [3, 12],
  [3, 10],
  [3, 9],
] as const;
const READY_MARKER = '.riverfs-tahoe-ready';

/**
 * In a Tahoe node's environment, "1" turns on the test-only lease-expiry fixes below (seconds as a lease duration, a
 * fast lease crawler). Only the lease-expiry fault test sets it, on the nodes of its own grid.
 */
export const FAST_LEASE_EXPIRY_ENV = 'RIVERFS_TEST_FAST_LEASE_EXPIRY';

/** A change of ours to the venv's copy of tahoe-lafs: `find` is replaced by `replace`, which carries `marker`. */
interface TahoeFix {
  file: string;
  find: string;
  replace: string;
  marker: string;
}

/**
 * Fixes of ours to tahoe-lafs 1.20.0, applied to the copy in the venv RiverFS manages (so to the embedded grid and
 * the test grid; a Tahoe node RiverFS does not run needs them applied by its operator: see the README).
 *
 * finish-cut-uploads: Tahoe cancels a request's work when its client disconnects. For an immutable upload that
 * leaves the share slots it had reserved on the storage servers allocated until their 30-minute inactivity timeout,
 * and every retry of the same bytes (the same storage index: PUT /uri always uses the node's convergence secret) is
 * refused meanwhile with "shares could be placed or found on only 0 server(s)". A RiverFS killed during an upload
 * retries exactly that. With the fix, a PUT or POST whose body has arrived runs to its end; the retry then finds the
 * shares in place and succeeds at once.
 *
 * reclaim-stale-http-uploads: the same reservation, when it is the Tahoe client node that goes away in the middle of
 * pushing shares (killed, or its machine lost). Over Foolscap a storage server hears of the disconnect and frees the
 * partial shares at once; over the HTTP storage protocol (what 1.20 nodes speak to each other) nothing tells it, and
 * the shares stay reserved for 30 minutes of inactivity, refusing every upload of the same bytes ("placed 2 shares
 * out of 3 total (1 homeless)"). With the fix, a storage server asked to allocate a share whose partial upload has
 * received nothing for 60 s aborts that upload first. A live uploader writes continuously (a stall of a minute means
 * it is gone); one that was that slow fails its next write and, on its retry, finds the shares in place.
 *
 * loopback-log-port: every node also runs a Foolscap "log tub" for `flogtool tail`, on a port Tahoe picks itself and
 * binds to every interface (0.0.0.0), although its own comment calls it localhost-only and it advertises
 * "localhost:PORT". No setting moves it, so the bind is made on 127.0.0.1, as every other port of the embedded grid.
 *
 * test-lease-expiry-seconds and test-lease-crawler-timing: for the lease-expiry fault test only, and inert unless a
 * node runs with RIVERFS_TEST_FAST_LEASE_EXPIRY=1 in its environment (LocalGridOptions.nodeEnv; nothing else sets it).
 * Tahoe's lease crawler starts 6 minutes after a storage node and then runs at most twice a day, and
 * `expire.override_lease_duration` takes days at least; no setting shortens any of them. With the variable set, the
 * duration may be given in seconds ("20 seconds") and the crawler starts after 1 s and comes round every 2 s.
 */
export const TAHOE_FIXES: readonly TahoeFix[] = [
  {
    file: 'allmydata/web/common.py',
    find: `        request.notifyFinish().addErrback(
            lambda ignored: d.cancel(),
        )`,
    replace: `        # riverfs: finish-cut-uploads (see RiverFS src/grid/tahoe-venv.ts): a write whose body has arrived runs to
        # its end when the client goes away, instead of leaving its share slots reserved for 30 minutes.
        request.notifyFinish().addErrback(
            lambda ignored: None if request.method in (b"PUT", b"POST") else d.cancel(),
        )`,
    marker: 'riverfs: finish-cut-uploads',
  },
  {
    file: 'allmydata/storage/http_server.py',
    find: `        already_got, sharenum_to_bucket = self._storage_server.allocate_buckets(`,
    replace: `        # riverfs: reclaim-stale-http-uploads (see RiverFS src/grid/tahoe-venv.ts): a partial share whose upload has
        # received nothing for a minute belongs to an uploader that went away; free it for this one.
        riverfs_partial = self._uploads._uploads.get(storage_index)
        if riverfs_partial is not None:
            for riverfs_shnum, riverfs_bucket in list(riverfs_partial.shares.items()):
                riverfs_idle = riverfs_bucket._clock.seconds() - (riverfs_bucket._timeout.getTime() - 30 * 60)
                if riverfs_shnum in info["share-numbers"] and riverfs_idle >= 60:
                    riverfs_bucket.abort()
        already_got, sharenum_to_bucket = self._storage_server.allocate_buckets(`,
    marker: 'riverfs: reclaim-stale-http-uploads',
  },
  {
    file: 'allmydata/util/iputil.py',
    find: `            s = socket.socket()
            try:
                s.bind(('', 0))`,
    replace: `            s = socket.socket()
            try:
                # riverfs: loopback-log-port (see RiverFS src/grid/tahoe-venv.ts): the log tub is meant to be
                # localhost-only, and says so in its location; bind it there.
                s.bind(('127.0.0.1', 0))`,
    marker: 'riverfs: loopback-log-port',
  },
  {
    file: 'allmydata/util/time_format.py',
    find: `    elif s.endswith("year"):
        unit = YEAR
        s = s[:-len("YEAR")]
    else:`,
    replace: `    elif s.endswith("year"):
        unit = YEAR
        s = s[:-len("YEAR")]
    # riverfs: test-lease-expiry-seconds (see RiverFS src/grid/tahoe-venv.ts): seconds, for a test grid only.
    elif s.endswith("second") and __import__("os").environ.get("${FAST_LEASE_EXPIRY_ENV}") == "1":
        unit = 1
        s = s[:-len("second")]
    else:`,
    marker: 'riverfs: test-lease-expiry-seconds',
  },
  {
    file: 'allmydata/storage/expirer.py',
    find: `    slow_start = 360 # wait 6 minutes after startup
    minimum_cycle_time = 12*60*60 # not more than twice per day
`,
    replace: `    slow_start = 360 # wait 6 minutes after startup
    minimum_cycle_time = 12*60*60 # not more than twice per day
    # riverfs: test-lease-crawler-timing (see RiverFS src/grid/tahoe-venv.ts): a test grid's crawler comes round fast.
    if os.environ.get("${FAST_LEASE_EXPIRY_ENV}") == "1":
        slow_start = 1
        minimum_cycle_time = 2
`,
    marker: 'riverfs: test-lease-crawler-timing',
  },
];

function sitePackages(venvDir: string): string | undefined {
  const lib = path.join(venvDir, 'lib');
  if (!fs.existsSync(lib)) {
    return undefined;
  }
  const python = fs.readdirSync(lib).find((name) => /^python3\.\d+$/.test(name));
  return python === undefined ? undefined : path.join(lib, python, 'site-packages');
}

/** The fixes not applied yet to the venv's tahoe-lafs (none when each file already carries its marker). */
function missingFixes(venvDir: string): TahoeFix[] {
  const site = sitePackages(venvDir);
  if (site === undefined) {
    return [...TAHOE_FIXES];
  }
  return TAHOE_FIXES.filter((fix) => {
    const file = path.join(site, fix.file);
    return !fs.existsSync(file) || !fs.readFileSync(file, 'utf8').includes(fix.marker);
  });
}

/** Applies the fixes; a file that does not hold the expected text (another tahoe-lafs) is an error, never guessed at. */
function applyFixes(venvDir: string, log: (message: string) => void): void {
  const site = sitePackages(venvDir);
  for (const fix of missingFixes(venvDir)) {
    const file = site === undefined ? fix.file : path.join(site, fix.file);
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (!text.includes(fix.find)) {
      throw new GridError(
        'TAHOE_INSTALL_FAILED',
        `${file} does not hold the code RiverFS's fix "${fix.marker}" expects: is it tahoe-lafs ${TAHOE_VERSION}?`,
      );
    }
    // Through a new file renamed over the old one: a node starting meanwhile reads the old text or the new, never half.
    const temporary = `${file}.riverfs-${process.pid}.tmp`;
    fs.writeFileSync(temporary, text.replace(fix.find, fix.replace), { mode: fs.statSync(file).mode & 0o777 });
    fs.renameSync(temporary, file);
    // Python would otherwise keep running the cached bytecode of the old text.
    const cache = path.join(path.dirname(file), '__pycache__');
    if (fs.existsSync(cache)) {
      for (const name of fs.readdirSync(cache).filter((entry) => entry.startsWith(`${path.basename(file, '.py')}.`))) {
        fs.rmSync(path.join(cache, name), { force: true });
      }
    }
    log(`applied RiverFS's fix "${fix.marker}" to ${file}`);
  }
}

export interface TahoeVenvOptions {
  venvDir: string;
  /** Interpreter to build the venv with; otherwise python3.11, python3.12, python3 from PATH. */
  python?: string | undefined;
  log?: (message: string) => void;
}

async function pythonVersion(python: string): Promise<[number, number] | undefined> {
  try {
    const result = await runCommand(python, ['-c', 'import sys; print(sys.version_info[0], sys.version_info[1])'], {
      timeoutMs: 30_000,
    });
    if (result.code !== 0) {
      return undefined;
    }
    const [major, minor] = result.stdout.trim().split(' ').map(Number);
    return major !== undefined && minor !== undefined ? [major, minor] : undefined;
  } catch {
    return undefined;
  }
}

/** Finds a Python that tahoe-lafs 1.20.0 runs on, or says exactly what is missing. */
export async function findPython(preferred?: string): Promise<string> {
  const candidates = preferred ? [preferred] : ['python3.11', 'python3.12', 'python3', 'python3.10', 'python3.9'];
  const seen: string[] = [];
  for (const candidate of candidates) {
    const version = await pythonVersion(candidate);
    if (version === undefined) {
      seen.push(`${candidate}: not found`);
      continue;
    }
    if (SUPPORTED_PYTHON.some(([major, minor]) => version[0] === major && version[1] === minor)) {
      return candidate;
    }
    seen.push(`${candidate}: Python ${version.join('.')} (unsupported)`);
  }
  throw new GridError(
    'PYTHON_MISSING',
    `No Python that tahoe-lafs ${TAHOE_VERSION} supports (3.9 to 3.12; 3.11 preferred) was found: ${seen.join('; ')}. ` +
      `Install one (Debian: apt-get install python3 python3-venv) or name it with --python / RIVERFS_PYTHON.`,
  );
}

export function tahoeExecutable(venvDir: string): string {
  return path.join(venvDir, 'bin', 'tahoe');
}

/**
 * Makes sure `venvDir` holds a virtual environment with tahoe-lafs 1.20.0, creating it when absent and reusing
 * it when present. Several processes (parallel test runs, the CLI) may ask at once: a lock file serialises them.
 */
export async function ensureTahoeVenv(options: TahoeVenvOptions): Promise<string> {
  const { venvDir } = options;
  const log = options.log ?? (() => undefined);
  const tahoe = tahoeExecutable(venvDir);
  const marker = path.join(venvDir, READY_MARKER);
  if (fs.existsSync(marker) && fs.existsSync(tahoe) && missingFixes(venvDir).length === 0) {
    return tahoe;
  }
  fs.mkdirSync(path.dirname(venvDir), { recursive: true });
  return withFileLock(`${venvDir}.lock`, { timeoutMs: 15 * 60_000 }, async () => {
    if (fs.existsSync(marker) && fs.existsSync(tahoe)) {
      // A venv made before a fix was added gets it now.
      applyFixes(venvDir, log);
      return tahoe;
    }
    const python = await findPython(options.python);
    if (!fs.existsSync(path.join(venvDir, 'bin', 'python'))) {
      log(`creating a Python virtual environment for tahoe-lafs ${TAHOE_VERSION} in ${venvDir} (with ${python})`);
      const created = await runCommand(python, ['-m', 'venv', venvDir], { timeoutMs: 5 * 60_000 });
      if (created.code !== 0) {
        fs.rmSync(venvDir, { recursive: true, force: true });
        const output = `${created.stdout}\n${created.stderr}`;
        if (/ensurepip|venv/i.test(output) && /not available|No module named/i.test(output)) {
          throw new GridError(
            'VENV_MISSING',
            `${python} cannot create virtual environments: the venv module (Debian package python3-venv) is missing. ` +
              `Install it with: apt-get install python3-venv`,
          );
        }
        throw new GridError('VENV_FAILED', `${python} -m venv ${venvDir} failed: ${output.trim().slice(-2000)}`);
      }
    }
    log(`installing tahoe-lafs==${TAHOE_VERSION} into ${venvDir} (once; later starts reuse it)`);
    const pip = path.join(venvDir, 'bin', 'pip');
    const installed = await runCommand(
      pip,
      ['install', '--disable-pip-version-check', '-q', `tahoe-lafs==${TAHOE_VERSION}`],
      {
        timeoutMs: 20 * 60_000,
      },
    );
    if (installed.code !== 0) {
      throw new GridError(
        'TAHOE_INSTALL_FAILED',
        `pip install tahoe-lafs==${TAHOE_VERSION} failed (it needs PyPI, and gcc with the Python headers to build ` +
          `netifaces): ${`${installed.stdout}\n${installed.stderr}`.trim().slice(-3000)}`,
      );
    }
    const version = await runCommand(tahoe, ['--version'], { timeoutMs: 120_000 });
    if (version.code !== 0 || !version.stdout.includes(`tahoe-lafs/${TAHOE_VERSION}`)) {
      throw new GridError(
        'TAHOE_INSTALL_FAILED',
        `${tahoe} --version did not report tahoe-lafs/${TAHOE_VERSION}: ${(version.stdout + version.stderr).trim().slice(-1000)}`,
      );
    }
    applyFixes(venvDir, log);
    fs.writeFileSync(marker, `tahoe-lafs/${TAHOE_VERSION}\n`);
    return tahoe;
  });
}
