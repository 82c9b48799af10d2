/** Text formatting shared by the admin commands: sizes, durations, key/value tables. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 0 B, 512 B, 1.5 KiB, 20.0 GiB. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '?';
  }
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** 0.4 s, 12 s, 3m 05s, 2h 03m, 4d 01h. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '?';
  }
  if (seconds < 10) {
    return `${Math.max(0, seconds).toFixed(1)} s`;
  }
  const whole = Math.round(seconds);
  if (whole < 60) {
    return `${whole} s`;
  }
  const pad = (n: number) => String(n).padStart(2, '0');
  if (whole < 3600) {
    return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`;
  }
  if (whole < 86400) {
    return `${Math.floor(whole / 3600)}h ${pad(Math.floor((whole % 3600) / 60))}m`;
  }
  return `${Math.floor(whole / 86400)}d ${pad(Math.floor((whole % 86400) / 3600))}h`;
}

export function formatPercent(ratio: number | null | undefined): string {
  return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? '-' : `${(ratio * 100).toFixed(1)}%`;
}

/** Rows of label and value, labels padded to one column. */
export function keyValueTable(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width + 2)}${value}`.trimEnd()).join('\n') + '\n';
}

/** "1 file", "3 files", "1 directory", "1 entry": the noun (given in the plural, as results name counts) agrees. */
export function countOf(count: number, plural: string): string {
  if (count !== 1) {
    return `${count} ${plural}`;
  }
  const singular = plural.endsWith('ies') ? `${plural.slice(0, -3)}y` : plural.replace(/s$/, '');
  return `${count} ${singular}`;
}

/**
 * `{files: 3, bytes: 6000}` as "3 files, 5.9 KiB": byte counts as sizes, other counts with their noun in agreement,
 * nested results by their name (`{pulled: {directories: 3}}` as "pulled 3 directories"); never raw JSON.
 */
export function formatSummary(result: Record<string, unknown> | null | undefined): string {
  if (result === null || result === undefined) {
    return '';
  }
  return Object.entries(result)
    .map(([name, value]) => {
      if (typeof value === 'number' && /bytes$/i.test(name)) {
        return `${formatBytes(value)}${name === 'bytes' ? '' : ` ${name.replace(/Bytes$/, '')}`}`;
      }
      if (typeof value === 'number') {
        return countOf(value, name);
      }
      if (typeof value === 'string' || typeof value === 'boolean') {
        return `${name} ${String(value)}`;
      }
      if (value === null || value === undefined) {
        return `${name} -`;
      }
      if (Array.isArray(value)) {
        return countOf(value.length, name);
      }
      const inner = formatSummary(value as Record<string, unknown>);
      return inner === '' ? `${name} nothing` : `${name} ${inner}`;
    })
    .join(', ');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
