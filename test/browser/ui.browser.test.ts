import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { envelope } from '../../shared/messaging/contracts.js';
import {
  postOrder,
  startTestHost,
  type TestHost,
  waitForOrderFinal,
  withFunctionKey,
} from '../support/test-host.js';

// The web page (GET /api/ui) in a real headless Chromium, against the local host over HTTP. Every test opens the
// page in a tab of its own (a new browsing context: no operator key, no orders of an earlier test's tab).
// CI installs Debian's `chromium` (.ci/run); without it the whole file is skipped with a message saying so.
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SCREENSHOTS = join(PROJECT_ROOT, 'artifacts', 'screenshots');
/** Generous: the page polls every 1–2 s and the embedded database serializes every connection. */
const WAIT_MS = 30_000;

const sel = (testId: string, attrs: Record<string, string> = {}) =>
  `[data-testid="${testId}"]${Object.entries(attrs)
    .map(([k, v]) => `[data-${k}="${v}"]`)
    .join('')}`;

const title = hasChromium
  ? 'web page in headless Chromium'
  : `web page in headless Chromium — SKIPPED: ${CHROMIUM} not found (install Debian's chromium; CI does)`;

describe.skipIf(!hasChromium)(title, () => {
  let host: TestHost | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let pageErrors: string[] = [];

  beforeAll(async () => {
    await mkdir(SCREENSHOTS, { recursive: true });
    host = await startTestHost();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  beforeEach(async () => {
    if (!browser || !host) throw new Error('browser or host did not start');
    pageErrors = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const res = await page.goto(`${host.url}/api/ui`, { waitUntil: 'domcontentloaded' });
    expect(res?.status()).toBe(200);
  });

  afterEach(async () => {
    await page?.context().close();
    expect(pageErrors, 'uncaught script errors on the page').toEqual([]);
  });

  afterAll(async () => {
    // Browser first (its polling keeps requests in flight), then the host; each even if the other fails.
    try {
      await browser?.close();
    } finally {
      await host?.stop();
    }
  });

  const api = (path: string, init?: RequestInit) => fetch(`${host?.url}/api${path}`, init);
  /** An operator call of the test itself (the chaos document), with the host's function key. */
  const operatorApi = (path: string) => api(path, { headers: host ? withFunctionKey(host) : {} });
  const useKey = async (p: Page, key: string) => {
    await p.fill(sel('operator-key'), key);
    await p.click(sel('operator-key-save'));
  };
  /** Places an order through the form and returns its id once the page shows the 202. */
  const placeThroughForm = async (productId: string, quantity: number): Promise<string> => {
    await page.fill(sel('customer-id'), 'ui-browser-test');
    await page.selectOption(sel('product-id'), productId);
    await page.fill(sel('quantity'), String(quantity));
    await page.click(sel('submit-order'));
    await page.waitForSelector(sel('order-result', { status: '202', replayed: 'false' }));
    const id = (await page.textContent(sel('result-order-id')))?.trim() ?? '';
    expect(id).toMatch(/\S/);
    return id;
  };
  const available = async (productId: string): Promise<number> => {
    const res = await api(`/inventory/${productId}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { item: { available: number } };
    return body.item.available;
  };

  it('CUSTOMER_AUTH=none: no sign-in and no "My orders" card, the customer id stays editable', async () => {
    // The page asks GET /api/me once at start; by the time stock has loaded it has had its answer.
    await page.waitForSelector(`${sel('stock-table')} tbody tr td:not(.note)`);
    expect(await page.isVisible(sel('sign-in'))).toBe(false);
    expect(await page.isVisible(sel('my-orders'))).toBe(false);
    expect(await page.getAttribute(sel('customer-id'), 'readonly')).toBeNull();
  });

  it('without the operator key: a read-only view that says why, and the orders placed in this tab', async () => {
    await page.waitForSelector(sel('operator-key-status', { state: 'none' }));
    expect(await page.textContent(sel('operator-key-status'))).toMatch(/read-only/);
    await page.waitForSelector(`${sel('orders-note')}:text-matches("operator view")`);
    expect(await page.textContent(sel('orders-scope'))).toBe('this tab only');
    expect(await page.isDisabled(sel('gremlin-toggle'))).toBe(true);
    expect(await page.isDisabled(sel('chaos-save'))).toBe(true);
    expect(await page.textContent(sel('chaos-note'))).toMatch(/operator key/);
  });

  it('places an order through the form and sees its row become shipped', async () => {
    const before = await available('PROD-002');
    expect(before).toBeGreaterThanOrEqual(2);
    const orderId = await placeThroughForm('PROD-002', 2);

    await page.waitForSelector(sel('order-row', { 'order-id': orderId, status: 'shipped' }), {
      timeout: WAIT_MS,
    });
    // The stock table catches up with the decrement (Playwright's :text-is() matches the cell's whole text).
    await page.waitForSelector(
      `${sel('stock-table')} tr[data-product-id="PROD-002"] td.num:text-is("${before - 2}")`,
    );
    expect(await available('PROD-002')).toBe(before - 2);
    // The order card followed its order from pending to its final status.
    await page.waitForSelector(sel('result-status', { 'order-id': orderId, status: 'shipped' }));
    expect((await page.textContent(sel('result-status')))?.trim()).toBe('shipped');
  });

  it('retries with the same key and shows the replayed marker with the same order id', async () => {
    const orderId = await placeThroughForm('PROD-001', 1);
    await page.waitForSelector(sel('order-row', { 'order-id': orderId }));
    await page.click(sel('retry-same-key'));
    await page.waitForSelector(sel('order-result', { status: '202', replayed: 'true' }));
    await page.waitForSelector(sel('replayed'), { state: 'visible' });
    expect((await page.textContent(sel('result-order-id')))?.trim()).toBe(orderId);
    // Still exactly one row for that order.
    expect(await page.locator(sel('order-row', { 'order-id': orderId })).count()).toBe(1);
  });

  it('adds a line to the form and places a two-line order that ships, shown as 2 lines', async () => {
    await page.selectOption(sel('product-id'), 'PROD-001');
    await page.fill(sel('quantity'), '1');
    await page.click(sel('add-line'));
    await page.selectOption(sel('line-product'), 'PROD-003');
    await page.fill(sel('line-quantity'), '2');
    await page.click(sel('submit-order'));
    await page.waitForSelector(sel('order-result', { status: '202', replayed: 'false' }));
    const id = (await page.textContent(sel('result-order-id')))?.trim() ?? '';
    const row = sel('order-row', { 'order-id': id, status: 'shipped' });
    await page.waitForSelector(row, { timeout: WAIT_MS });
    expect(await page.textContent(`${row} ${sel('order-lines')}`)).toBe('2 lines');
    const order = (await (await api(`/orders/${id}`)).json()) as { order: { lines: unknown[] } };
    expect(order.order.lines).toEqual([
      { productId: 'PROD-001', quantity: 1 },
      { productId: 'PROD-003', quantity: 2 },
    ]);
    await page.click(sel('remove-line'));
    expect(await page.locator(sel('order-line')).count()).toBe(0);
  });

  it('opens an order from its row with the keyboard and cancels it: lines, history, retry, stock back', async () => {
    await page.selectOption(sel('product-id'), 'PROD-004');
    await page.fill(sel('quantity'), '2');
    await page.click(sel('add-line'));
    await page.selectOption(sel('line-product'), 'PROD-005');
    await page.fill(sel('line-quantity'), '1');
    await page.click(sel('submit-order'));
    await page.waitForSelector(sel('order-result', { status: '202', replayed: 'false' }));
    const id = (await page.textContent(sel('result-order-id')))?.trim() ?? '';
    await page.waitForSelector(sel('order-row', { 'order-id': id, status: 'shipped' }));
    const [laptops, headsets] = [await available('PROD-004'), await available('PROD-005')];

    await page.focus(`${sel('order-row', { 'order-id': id })} ${sel('open-order')}`);
    await page.keyboard.press('Enter');
    const dialog = sel('order-detail', { 'order-id': id, status: 'shipped' });
    await page.waitForSelector(dialog, { state: 'visible' });
    expect(await page.locator(sel('detail-line')).allTextContents()).toEqual(['PROD-0042', 'PROD-0051']);
    expect(await page.getAttribute(`${sel('history-entry')} >> nth=-1`, 'data-status')).toBe('shipped');

    // Enter in the reason field submits the cancel; the retry sends the same key and is answered as a replay.
    await page.fill(sel('cancel-reason'), 'changed my mind');
    await page.press(sel('cancel-reason'), 'Enter');
    await page.waitForSelector(sel('cancel-result', { status: '202', replayed: 'false' }));
    await page.click(sel('cancel-retry'));
    await page.waitForSelector(sel('cancel-result', { status: '202', replayed: 'true' }));
    await page.waitForSelector(sel('cancel-replayed'), { state: 'visible' });

    // Followed live: cancel_requested, then cancelled once Inventory gave the stock back.
    await page.waitForSelector(sel('order-detail', { 'order-id': id, status: 'cancelled' }));
    expect(await page.getAttribute(`${sel('history-entry')} >> nth=-1`, 'data-status')).toBe('cancelled');
    // The server's history (?include=history), every step with its time, not the dialog's own sightings.
    await page.waitForSelector(`${sel('history-entry')} >> nth=3`);
    const steps = await page
      .locator(sel('history-entry'))
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    expect(steps).toEqual(['pending', 'shipped', 'cancel_requested', 'cancelled']);
    expect(await page.textContent(sel('detail-history-note'))).toBe('');
    expect(await page.textContent(sel('detail-reason'))).toBe('changed my mind');
    expect(await page.isHidden(sel('cancel-form'))).toBe(true);
    await page.waitForSelector(
      `${sel('stock-table')} tr[data-product-id="PROD-004"] td.num:text-is("${laptops + 2}")`,
    );
    await page.waitForSelector(
      `${sel('stock-table')} tr[data-product-id="PROD-005"] td.num:text-is("${headsets + 1}")`,
    );
    expect(await available('PROD-004')).toBe(laptops + 2);
    await page.screenshot({ path: join(SCREENSHOTS, 'ui-order-detail-cancelled.png') });

    await page.keyboard.press('Escape');
    await page.waitForSelector(sel('order-detail'), { state: 'hidden' });
    await page.waitForSelector(sel('order-row', { 'order-id': id, status: 'cancelled' }));
    const stored = (await (await api(`/orders/${id}`)).json()) as { order: { status: string } };
    expect(stored.order.status).toBe('cancelled');
  });

  it('shows the 409 as the API gives it when the order was cancelled elsewhere meanwhile', async () => {
    const id = await placeThroughForm('PROD-003', 1);
    await page.waitForSelector(sel('order-row', { 'order-id': id, status: 'shipped' }));
    await page.click(`${sel('order-row', { 'order-id': id })} ${sel('open-order')}`);
    await page.waitForSelector(sel('order-detail', { 'order-id': id, status: 'shipped' }), {
      state: 'visible',
    });

    // Another client cancels it; the dialog still offers Cancel (a shipped order is not polled).
    const elsewhere = await api(`/orders/${id}/cancel`, { method: 'POST' });
    expect(elsewhere.status).toBe(202);
    await waitForOrderFinal(host!.url, id);
    await page.click(sel('cancel-order'));
    await page.waitForSelector(sel('cancel-result', { status: '409', replayed: 'false' }));
    const problem = (await (await api(`/orders/${id}/cancel`, { method: 'POST' })).json()) as {
      detail: string;
    };
    expect(await page.textContent(sel('cancel-problem'))).toContain(problem.detail);
    // The refusal makes the dialog read the order again: it shows what happened.
    await page.waitForSelector(sel('order-detail', { 'order-id': id, status: 'cancelled' }));
    expect(await page.isHidden(sel('cancel-form'))).toBe(true);
  });

  it('refuses a wrong operator key with a clear message, and keeps the read-only view', async () => {
    const orderId = await placeThroughForm('PROD-003', 1);
    await useKey(page, 'not-the-operator-key');
    await page.waitForSelector(sel('operator-key-status', { state: 'refused' }));
    expect(await page.textContent(sel('operator-key-status'))).toMatch(/refused \(HTTP 401\)/);
    await page.waitForSelector(`${sel('orders-note')}:text-matches("refused")`);
    // The tab's own order is still shown.
    await page.waitForSelector(sel('order-row', { 'order-id': orderId }));
  });

  it("with the operator key: every customer's orders, health details and the chaos switches", async () => {
    if (!host) throw new Error('host did not start');
    const res = await postOrder(host.url, { customerId: 'someone-else', productId: 'PROD-005', quantity: 1 });
    const other = ((await res.json()) as { order: { id: string } }).order.id;
    await useKey(page, host.functionKey);
    await page.waitForSelector(sel('operator-key-status', { state: 'set' }));
    await page.waitForSelector(sel('order-row', { 'order-id': other }));
    expect(await page.textContent(sel('orders-scope'))).toBe('all customers');
    await page.waitForSelector(`${sel('health-orders')}:has-text("outbox")`);
    await page.waitForSelector(`${sel('gremlin-toggle')}:enabled`);
    // Kept in this tab's session storage: a reload keeps it…
    expect(await page.evaluate<string | null>("sessionStorage.getItem('valerix.functionKey')")).toBe(
      host.functionKey,
    );
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector(sel('operator-key-status', { state: 'set' }));
    await page.waitForSelector(sel('order-row', { 'order-id': other }));
    // …another tab (a new browsing context) does not have it.
    if (!browser) throw new Error('browser did not start');
    const otherTab = await browser.newContext();
    try {
      const p = await otherTab.newPage();
      await p.goto(`${host.url}/api/ui`, { waitUntil: 'domcontentloaded' });
      await p.waitForSelector(sel('operator-key-status', { state: 'none' }));
    } finally {
      await otherTab.close();
    }
  });

  it('keeps keyboard focus on an order while the table redraws around it', async () => {
    if (!host) throw new Error('host did not start');
    const place = async (customerId: string) => {
      const res = await postOrder(host!.url, { customerId, productId: 'PROD-001', quantity: 1 });
      return ((await res.json()) as { order: { id: string } }).order.id;
    };
    await useKey(page, host.functionKey);
    const first = await place('focus-a');
    const button = `${sel('order-row', { 'order-id': first })} ${sel('open-order')}`;
    await page.waitForSelector(button);
    await page.focus(button);
    // Another customer's order arrives: the table is rebuilt with a new row on top.
    const second = await place('focus-b');
    await page.waitForSelector(sel('order-row', { 'order-id': second }));
    const focused = () =>
      page.evaluate<string | null>("document.activeElement?.getAttribute('data-open-order') ?? null");
    expect(await focused()).toBe(first);
    await page.keyboard.press('Enter');
    await page.waitForSelector(sel('order-detail', { 'order-id': first }), { state: 'visible' });
  });

  it('shows both services up and a green latency tile', async () => {
    // An order of its own, so the tile has a latency to show whichever tests ran before.
    expect(
      (await postOrder(host!.url, { customerId: 'tile', productId: 'PROD-004', quantity: 1 })).status,
    ).toBe(202);
    await page.waitForSelector(sel('health-orders', { status: 'up' }));
    await page.waitForSelector(sel('health-inventory', { status: 'up' }));
    await page.waitForSelector(sel('latency-tile', { state: 'green' }));
    await page.waitForSelector(`${sel('latency-average')}:text-matches("^[0-9][0-9,.]*$")`);
    await expectNoHorizontalScroll(page);
    await page.screenshot({ path: join(SCREENSHOTS, 'ui-laptop.png'), fullPage: true });
  });

  it('turns the gremlin on with the toggle, sees it reported and stored, and turns it off again', async () => {
    await useKey(page, host!.functionKey);
    await page.waitForSelector(sel('operator-key-status', { state: 'set' }));
    await page.check(sel('gremlin-toggle'));
    await page.waitForSelector(`${sel('gremlin-status')}[data-enabled="true"]`);
    expect(await page.textContent(sel('gremlin-status'))).toMatch(/Gremlin ON/);
    const on = (await (await operatorApi('/chaos')).json()) as { gremlin: { enabled: boolean } };
    expect(on.gremlin.enabled).toBe(true);

    // The toggle is disabled while its PUT is in flight; uncheck waits for it to be enabled again.
    await page.uncheck(sel('gremlin-toggle'));
    await page.waitForSelector(`${sel('gremlin-status')}[data-enabled="false"]`);
    expect(await page.textContent(sel('gremlin-status'))).toMatch(/Gremlin OFF/);
    const off = (await (await operatorApi('/chaos')).json()) as { gremlin: { enabled: boolean } };
    expect(off.gremlin.enabled).toBe(false);
  });

  it('fits a phone screen (390×844) without horizontal scrolling', async () => {
    if (!browser || !host) throw new Error('browser or host did not start');
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const p = await phone.newPage();
      p.setDefaultTimeout(WAIT_MS);
      p.on('pageerror', (err) => pageErrors.push(err.message));
      await p.goto(`${host.url}/api/ui`, { waitUntil: 'domcontentloaded' });
      const res = await postOrder(
        host.url,
        { customerId: 'phone', productId: 'PROD-005', quantity: 1 },
        {
          Prefer: 'wait=10',
        },
      );
      const { order } = (await res.json()) as { order: { id: string; status: string } };
      expect(order.status).toBe('shipped');
      await useKey(p, host.functionKey);
      await p.waitForSelector(sel('order-row', { 'order-id': order.id, status: 'shipped' }));
      await p.waitForSelector(sel('health-inventory', { status: 'up' }));
      await p.waitForSelector(sel('latency-tile', { state: 'green' }));
      await p.waitForSelector(`${sel('gremlin-status')}[data-enabled="false"]`);
      await expectNoHorizontalScroll(p);
      await p.screenshot({ path: join(SCREENSHOTS, 'ui-phone.png'), fullPage: true });
      // The order detail fits the phone too: the dialog and everything in it within the screen's width.
      await p.tap(`${sel('order-row', { 'order-id': order.id })} ${sel('open-order')}`);
      await p.waitForSelector(sel('order-detail', { 'order-id': order.id, status: 'shipped' }), {
        state: 'visible',
      });
      const fit = await p.evaluate<{
        right: number;
        scrollWidth: number;
        clientWidth: number;
        width: number;
      }>(
        `(() => { const d = document.getElementById('order-detail'); const r = d.getBoundingClientRect();
          return { right: r.right, scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, width: window.innerWidth }; })()`,
      );
      expect(fit.right).toBeLessThanOrEqual(fit.width);
      expect(fit.scrollWidth).toBeLessThanOrEqual(fit.clientWidth);
      expect(await p.isVisible(sel('cancel-order'))).toBe(true);
      await p.screenshot({ path: join(SCREENSHOTS, 'ui-phone-order-detail.png') });
    } finally {
      await phone.close();
    }
  });

  it('draws the last 10 minutes of order-API p50/p99 and orders/s, and updates it as orders arrive', async () => {
    const requests = async () => Number(await page.getAttribute(sel('latency-chart'), 'data-requests'));
    const before = await requests();
    for (let i = 0; i < 3; i++) {
      expect(
        (await postOrder(host!.url, { customerId: 'chart', productId: 'PROD-003', quantity: 1 })).status,
      ).toBe(202);
    }
    await expect.poll(requests, { timeout: WAIT_MS, interval: 250 }).toBeGreaterThanOrEqual(before + 3);
    for (const series of ['p99Ms', 'p50Ms']) {
      await page.waitForSelector(`${sel('latency-chart')} polyline[data-series="${series}"]`, {
        state: 'attached',
      });
    }
    expect(
      await page.locator(`${sel('latency-chart')} g[data-series="orders-per-second"] rect`).count(),
    ).toBeGreaterThan(0);
    expect(await page.textContent(sel('latency-chart-note'))).toMatch(/p99 [\d.]+ ms/);
  });

  it('lists dead letters per service with reason and attempts, and answers a redrive', async () => {
    await useKey(page, host!.functionKey);
    await host!.runtime.db.query(
      `INSERT INTO inventory.dead_letters (queue, body, error, delivery_count)
       VALUES ('inventory-reservations', '"garbage"', 'invalid message: expected object', 10)`,
    );
    const row = await page.waitForSelector(sel('dead-letter-row'));
    expect(await row.textContent()).toMatch(/invalid message: expected object/);
    expect(await row.textContent()).toMatch(/10/);
    await page.waitForSelector(`${sel('dead-letters-inventory')}[data-open="1"]`);
    await page.click(`${sel('dead-letter-row')} button`);
    await page.waitForSelector(`${sel('dead-letters-note')}:text-matches("not a message envelope")`);
  });

  it('says which dead letter holds a cancel back, and its redrive finishes the cancel', async () => {
    await useKey(page, host!.functionKey);
    const orderId = crypto.randomUUID();
    await host!.runtime.db.query(
      `INSERT INTO orders.orders (id, customer_id, product_id, quantity, status)
       VALUES ($1, 'ui-cancel', 'PROD-001', 1, 'cancel_requested')`,
      [orderId],
    );
    const cancelled = envelope('OrderCancelled', { orderId });
    const { rows } = await host!.runtime.db.query<{ id: string }>(
      `INSERT INTO inventory.dead_letters (queue, message_id, order_id, body, error, delivery_count)
       VALUES ('inventory-reservations', $1, $2, $3, 'lock lost', 10) RETURNING id`,
      [cancelled.messageId, orderId, JSON.stringify(cancelled)],
    );
    const id = `inventory-${rows[0]!.id}`;
    const waiting = `${sel('dead-letter-row', { id })} ${sel('cancel-waiting')}`;
    await page.waitForSelector(waiting);
    expect(await page.textContent(waiting)).toMatch(/Cancel waiting on a dead letter/);
    await page.click(sel(`redrive-${id}`));
    await page.waitForSelector(`${sel('dead-letters-note')}:text-matches("Re-sent")`);
    await expect
      .poll(
        async () =>
          (
            (await (await fetch(`${host!.url}/api/orders/${orderId}`)).json()) as {
              order: { status: string };
            }
          ).order.status,
        {
          timeout: WAIT_MS,
          interval: 100,
        },
      )
      .toBe('cancelled');
    await page.waitForSelector(waiting, { state: 'detached' });
  });
});

async function expectNoHorizontalScroll(p: Page): Promise<void> {
  // A string expression: the test project type-checks without the DOM library.
  const { scrollWidth, innerWidth } = await p.evaluate<{ scrollWidth: number; innerWidth: number }>(
    '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
  );
  expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
}
