// The RiverFS dashboard: plain DOM and fetch against the admin API, with the token the operator types in (kept in
// sessionStorage, so it dies with the tab). Every server text is shown with textContent, never parsed as HTML.
'use strict';

(function () {
  const TOKEN_KEY = 'riverfs.adminToken';
  const REFRESH_MS = 5000;
  const $ = (id) => document.getElementById(id);

  let timer = null;
  let previous = null;

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function formatBytes(bytes) {
    if (typeof bytes !== 'number' || !Number.isFinite(bytes)) {
      return '–';
    }
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let value = bytes;
    let unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
  }

  function formatRate(value, unit) {
    return value === null ? '–' : unit === 'bytes' ? `${formatBytes(value)}/s` : `${value.toFixed(1)}/s`;
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  /** Calls the API; resolves to { ok, status, body } where body is the JSON answer or problem document. */
  async function api(method, path, body) {
    const headers = { authorization: `Bearer ${token()}`, accept: 'application/json' };
    const init = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    // Every answer of the API is JSON; anything else (a proxy's error page) is shown as a bare status.
    const parsed = await response.json().catch(() => null);
    if (response.status === 401) {
      signOut('The token was refused; sign in again.');
    }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  function problemText(answer) {
    const problem = answer.body || {};
    return `${answer.status} ${problem.title || ''}: ${problem.detail || 'no detail'}`;
  }

  function showBoard(visible) {
    $('board').hidden = !visible;
    $('logout').hidden = !visible;
    $('login').hidden = visible;
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(timer);
    timer = null;
    previous = null;
    showBoard(false);
    setText('login-error', message || '');
  }

  function renderGrid(grid) {
    const badge = $('grid-happy');
    badge.textContent = !grid.reachable ? 'unreachable' : grid.happy ? 'happy' : 'not happy';
    badge.className = `badge ${grid.reachable && grid.happy ? 'ok' : 'bad'}`;
    setText('grid-connected', String(grid.connectedServers));
    setText('grid-needed', String(grid.sharesHappy));
    setText('grid-space', formatBytes(grid.availableSpace));
    setText('grid-error', grid.error || '');
  }

  function renderCache(cache) {
    const meter = $('cache-meter');
    meter.max = cache.limits.maxBytes;
    meter.value = cache.usedBytes;
    setText('cache-used', `${formatBytes(cache.usedBytes)} / ${formatBytes(cache.limits.maxBytes)}`);
    setText('cache-clean', formatBytes(cache.cleanBytes));
    setText('cache-dirty', formatBytes(cache.dirtyBytes));
    setText('cache-files', `${cache.files} (${cache.dirtyFiles} dirty)`);
    setText('cache-hit-ratio', cache.hitRatio === null ? 'no reads yet' : `${(cache.hitRatio * 100).toFixed(1)} %`);
  }

  function renderThroughput(totals, time) {
    const now = Date.parse(time);
    if (previous !== null && now > previous.time) {
      const seconds = (now - previous.time) / 1000;
      const rate = (key) => Math.max(0, totals[key] - previous.totals[key]) / seconds;
      setText('rate-sent', formatRate(rate('tahoeBytesSent'), 'bytes'));
      setText('rate-received', formatRate(rate('tahoeBytesReceived'), 'bytes'));
      setText('rate-requests', formatRate(rate('tahoeRequests')));
      setText('rate-fuse', formatRate(rate('fuseOps')));
    }
    previous = { time: now, totals };
  }

  function renderErrors(recent) {
    setText('errors-total', `(${recent.total} since start)`);
    const list = $('errors-list');
    list.replaceChildren();
    if (recent.errors.length === 0) {
      const item = document.createElement('li');
      item.textContent = 'None.';
      list.append(item);
    }
    for (const error of recent.errors) {
      const item = document.createElement('li');
      const id = error.correlationId ? ` [${error.correlationId}]` : '';
      item.textContent = `${error.time} ${error.source} ${error.code}: ${error.message}${id}`;
      list.append(item);
    }
  }

  function renderQueue(answer) {
    const table = $('sync-items');
    const body = table.querySelector('tbody');
    body.replaceChildren();
    if (!answer.ok) {
      table.hidden = true;
      setText('sync-summary', problemText(answer));
      return;
    }
    const queue = answer.body;
    const oldest = queue.oldestDirtyAgeSeconds === null ? '' : `, oldest change ${queue.oldestDirtyAgeSeconds} s old`;
    setText('sync-summary', `${queue.total} item(s) queued${oldest}`);
    table.hidden = queue.items.length === 0;
    for (const item of queue.items) {
      const row = document.createElement('tr');
      const next = item.nextAttemptAt ? new Date(item.nextAttemptAt).toLocaleTimeString() : '';
      for (const value of [item.ino, item.kind, item.state, item.tries, next, item.lastError || '']) {
        const cell = document.createElement('td');
        cell.textContent = String(value);
        row.append(cell);
      }
      body.append(row);
    }
  }

  /** "1 file", "3 files", "1 directory": counts with their noun in agreement (the same rule as the CLI's). */
  function countOf(count, plural) {
    if (count !== 1) {
      return `${count} ${plural}`;
    }
    return `${count} ${plural.endsWith('ies') ? `${plural.slice(0, -3)}y` : plural.replace(/s$/, '')}`;
  }

  /** A job's result as words ("pulled 3 directories, 1 file"), never raw JSON. */
  function summaryOf(result) {
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
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
          const inner = summaryOf(value);
          return inner === '' ? `${name} nothing` : `${name} ${inner}`;
        }
        return `${name} ${Array.isArray(value) ? value.length : String(value)}`;
      })
      .join(', ');
  }

  function renderJobs(answer) {
    const body = $('jobs').querySelector('tbody');
    body.replaceChildren();
    if (!answer.ok) {
      return;
    }
    for (const job of answer.body) {
      const row = document.createElement('tr');
      const progress =
        job.progress.total === null
          ? countOf(job.progress.done, job.progress.unit)
          : `${job.progress.done}/${job.progress.total} ${job.progress.unit}`;
      const outcome = job.error ? `${job.error.code}: ${job.error.message}` : summaryOf(job.result);
      for (const value of [job.createdAt, job.kind, job.state, progress, outcome]) {
        const cell = document.createElement('td');
        cell.textContent = value;
        row.append(cell);
      }
      body.append(row);
    }
  }

  function renderLifecycle(leases, checks) {
    if (leases.ok) {
      const last = leases.body.lastCompleteAt;
      setText(
        'lease-last',
        last === null
          ? 'never'
          : `${last}: ${leases.body.lastCompleteRenewed} renewed, ${leases.body.lastCompleteFailed} failed`,
      );
      const run = leases.body.run;
      setText('lease-run', run === null ? 'no' : `${run.renewed} renewed, ${run.failed} failed so far`);
    } else {
      setText('lease-last', problemText(leases));
    }
    if (checks.ok) {
      setText('check-unhealthy', `${checks.body.unhealthy} of ${checks.body.checked} checked`);
      setText('check-unrecoverable', String(checks.body.unrecoverable));
    }
  }

  async function refresh() {
    timer = null;
    try {
      const [stats, queue, jobs, leases, checks] = await Promise.all([
        api('GET', '/admin/stats'),
        api('GET', '/admin/sync/queue?limit=20'),
        api('GET', '/admin/jobs?limit=10'),
        api('GET', '/admin/leases'),
        api('GET', '/admin/check'),
      ]);
      if (token() === null) {
        return;
      }
      if (stats.ok) {
        setText('version', `v${stats.body.version}`);
        renderGrid(stats.body.grid);
        renderCache(stats.body.cache);
        renderThroughput(stats.body.totals, stats.body.time);
        renderErrors(stats.body.recentErrors);
        setText('refresh-state', `updated ${new Date().toLocaleTimeString()}`);
      } else {
        setText('refresh-state', `refresh failed: ${problemText(stats)}`);
      }
      renderQueue(queue);
      renderJobs(jobs);
      renderLifecycle(leases, checks);
    } catch (error) {
      setText('refresh-state', `refresh failed: ${error.message}`);
    }
    if (token() !== null) {
      timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  async function act(button, path, label) {
    button.disabled = true;
    setText('action-result', `${label}: starting…`);
    try {
      const answer = await api('POST', path, {});
      if (answer.ok) {
        setText('action-result', `${label}: job ${answer.body.id} ${answer.body.state}`);
      } else {
        setText('action-result', `${label} refused: ${problemText(answer)}`);
      }
    } catch (error) {
      setText('action-result', `${label} failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    showBoard(true);
    setText('login-error', '');
    clearTimeout(timer);
    void refresh();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token').value.trim();
      if (value === '') {
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, value);
      $('token').value = '';
      start();
    });
    $('logout').addEventListener('click', () => signOut(''));
    $('flush-button').addEventListener('click', (event) => act(event.currentTarget, '/admin/cache/flush', 'Flush'));
    $('sync-button').addEventListener('click', (event) => act(event.currentTarget, '/admin/sync', 'Sync'));
    if (token() === null) {
      showBoard(false);
    } else {
      start();
    }
  });
})();
