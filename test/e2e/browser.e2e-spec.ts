import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { ROOT_INO } from '../../src/metadata/metadata.types';
import { createTestHttpApp, type TestHttpApp } from '../support/http-app.helper';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
const WAIT_MS = 30_000;

describe('Swagger UI and the dashboard in headless Chromium', () => {
  let t: TestHttpApp;
  let browser: Browser;

  beforeAll(async () => {
    expect(fs.existsSync(CHROMIUM)).toBe(true);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    t = await createTestHttpApp();
    // Something in the cache, so the dashboard has figures to show.
    const file = await t.store.create(ROOT_INO, 'cached.bin', { uid: 0, gid: 0, mode: 0o644 });
    await t.cache.write(file.ino, 0, Buffer.alloc(100_000, 1));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('should load Swagger UI, authorize with the token and execute GET /admin/grid', async () => {
    // The browser asks for the token when /docs is opened (Basic); the API calls carry it as a bearer token
    // only once the Authorize dialog has been used.
    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: t.adminToken } });
    const page = await context.newPage();
    try {
      await page.goto(`${t.url}/docs`);
      await page
        .locator('.swagger-ui .info .title')
        .filter({ hasText: 'RiverFS admin API' })
        .waitFor({ timeout: WAIT_MS });

      await page.locator('button.authorize').first().click();
      await page.locator('.modal-ux input').first().fill(t.adminToken);
      await page.locator('.modal-ux .auth-btn-wrapper button.authorize').click();
      await page.locator('.modal-ux button.btn-done').click();
      await page.locator('button.authorize.locked').first().waitFor({ timeout: WAIT_MS });

      const operation = page.locator('#operations-grid-getGrid');
      await operation.locator('.opblock-summary').click();
      await operation.locator('button.try-out__btn').click();
      const answered = page.waitForResponse((response) => response.url().endsWith('/admin/grid'));
      await operation.locator('button.execute').click();
      const response = await answered;
      expect(response.status()).toBe(200);
      expect(response.request().headers().authorization).toBe(`Bearer ${t.adminToken}`);

      const live = operation.locator('.live-responses-table tbody tr.response');
      await live.locator('td.response-col_status').filter({ hasText: '200' }).waitFor({ timeout: WAIT_MS });
      const body = await live.locator('.response-col_description pre.microlight').first().textContent();
      expect(JSON.parse(body ?? '{}')).toMatchObject({ happy: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'swagger-ui.png'), fullPage: true });
    } catch (error) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'swagger-ui-failure.png'), fullPage: true });
      throw error;
    } finally {
      await context.close();
    }
  });

  it('should show the grid and cache figures on the dashboard, and show what flush answers', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${t.url}/`);
      await page.locator('#login').waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.fill('#token', t.adminToken);
      await page.click('#login-form button[type=submit]');

      await page
        .locator('#grid-happy')
        .filter({ hasText: /^happy$/ })
        .waitFor({ timeout: WAIT_MS });
      expect(Number(await page.textContent('#grid-connected'))).toBeGreaterThanOrEqual(t.config.gridSharesHappy);
      expect(await page.textContent('#grid-needed')).toBe(String(t.config.gridSharesHappy));
      expect(await page.textContent('#cache-used')).toBe(
        `${(t.cache.stats().usedBytes / 1024).toFixed(1)} KiB / 64.0 MiB`,
      );
      expect(await page.textContent('#cache-dirty')).toMatch(/KiB$/);
      // Nothing renewed or checked in this app yet: the lifecycle card says so.
      expect(await page.textContent('#lease-last')).toBe('never');
      expect(await page.textContent('#check-unhealthy')).toBe('0 of 0 checked');
      expect(await page.textContent('#sync-summary')).toMatch(/^503 Service Unavailable: sync is not available yet/);

      const flushed = page.waitForRequest(
        (sent) => sent.url().endsWith('/admin/cache/flush') && sent.method() === 'POST',
      );
      await page.click('#flush-button');
      const sent = await flushed;
      expect(sent.headers().authorization).toBe(`Bearer ${t.adminToken}`);
      await page.locator('#action-result').filter({ hasText: 'Flush refused: 503' }).waitFor({ timeout: WAIT_MS });
      expect(await page.textContent('#action-result')).toMatch(/sync is not available yet/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });

      const storedToken = "sessionStorage.getItem('riverfs.adminToken')";
      expect(await page.evaluate(storedToken)).toBe(t.adminToken);
      await page.click('#logout');
      await page.locator('#login').waitFor({ state: 'visible', timeout: WAIT_MS });
      expect(await page.evaluate(storedToken)).toBeNull();
      expect(await page.isVisible('#board')).toBe(false);
    } catch (error) {
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-failure.png'), fullPage: true });
      throw error;
    } finally {
      await context.close();
    }
  });

  it('should send the operator back to sign in when the token is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${t.url}/`);
      await page.fill('#token', 'not-the-token-at-all');
      await page.click('#login-form button[type=submit]');
      await page.locator('#login-error').filter({ hasText: 'The token was refused' }).waitFor({ timeout: WAIT_MS });
      expect(await page.isVisible('#board')).toBe(false);
    } finally {
      await context.close();
    }
  });
});
