import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IssuerKey, TestIssuer } from '../support/oidc-issuer.js';
import { postOrder, startTestHost, type TestHost } from '../support/test-host.js';

// The page with CUSTOMER_AUTH=jwt in a real headless Chromium: paste a real token (signed by the test issuer),
// see "My orders", open one in the order-detail dialog. Skipped without Debian's chromium, as ui.browser.test.ts.
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const WAIT_MS = 30_000;
const sel = (testId: string) => `[data-testid="${testId}"]`;

describe.skipIf(!hasChromium)('the page with CUSTOMER_AUTH=jwt in headless Chromium', () => {
  let issuer: TestIssuer;
  let key: IssuerKey;
  let host: TestHost;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    issuer = await new TestIssuer().start();
    key = await issuer.addKey('ES256');
    host = await startTestHost(issuer.settings());
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(WAIT_MS);
  });
  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      await host?.stop();
      await issuer?.stop();
    }
  });

  it('paste a token: signed in, the form is that customer’s, My orders lists them and opens the detail', async () => {
    const token = await issuer.token(key, { sub: 'browser-customer' });
    const placed = await postOrder(
      host.url,
      { productId: 'PROD-002', quantity: 1 },
      { authorization: `Bearer ${token}` },
    );
    const { order } = (await placed.json()) as { order: { id: string } };
    await postOrder(
      host.url,
      { productId: 'PROD-002', quantity: 1 },
      {
        authorization: `Bearer ${await issuer.token(key, { sub: 'someone-else' })}`,
      },
    );

    await page.goto(`${host.url}/api/ui`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector(sel('sign-in-form'), { state: 'visible' });
    expect(await page.isVisible(sel('my-orders'))).toBe(false);
    await page.fill(sel('customer-token'), 'not-a-token');
    await page.click(sel('sign-in-save'));
    await page.waitForSelector(`${sel('sign-in-status')}[data-state="refused"]`);

    await page.fill(sel('customer-token'), token);
    await page.click(sel('sign-in-save'));
    await page.waitForSelector(`${sel('sign-in-status')}[data-state="signed-in"]`);
    expect(await page.inputValue(sel('customer-id'))).toBe('browser-customer');
    expect(await page.getAttribute(sel('customer-id'), 'readonly')).not.toBeNull();

    const rows = page.locator(sel('my-order-row'));
    await rows.first().waitFor();
    expect(await rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-order-id')))).toEqual([order.id]);
    await page.click(`${sel('my-orders')} [data-open-order="${order.id}"]`);
    await page.waitForSelector(`dialog[open]`);
    expect(await page.textContent('dialog[open]')).toContain('PROD-002');
  });
});
