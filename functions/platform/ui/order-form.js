// The "Create order" card: the order form (one or more lines), placing it with an Idempotency-Key, retrying with
// the same key, and the answer. Its product list comes from the stock card (showProducts).
import { $, api, badge, el, fmtVal, newUuid } from './common.js';

let onPlaced = () => {};
const rand4 = () => Math.random().toString(36).slice(2, 6).padEnd(4, '0');
// The products come from GET /api/inventory (the stock card's poll). Until its first answer the list shows the
// products last read in this browser (localStorage), or a placeholder when there are none yet.
const PRODUCTS_STORAGE = 'valerix.products';
function rememberedProducts() {
  try {
    const items = JSON.parse(localStorage.getItem(PRODUCTS_STORAGE) || '[]');
    return Array.isArray(items) ? items.filter((i) => i && typeof i.productId === 'string') : [];
  } catch {
    return [];
  }
}
function rememberProducts(items) {
  try {
    const text = JSON.stringify(items.map((i) => ({ productId: i.productId, name: i.name || '' })));
    if (localStorage.getItem(PRODUCTS_STORAGE) !== text) localStorage.setItem(PRODUCTS_STORAGE, text);
  } catch {
    // storage full or disabled: the list is read again on the next poll
  }
}
function fillProducts(items) {
  const sel = $('product-id');
  const ids = items.map((i) => i.productId).join('|');
  if (sel.dataset.ids !== ids) {
    const keep = sel.value;
    sel.replaceChildren(...items.map((i) => el('option', { value: i.productId })));
    sel.dataset.ids = ids;
    if (ids.split('|').includes(keep)) sel.value = keep;
  }
  items.forEach((i, n) => {
    const t =
      i.productId + (i.name ? ` — ${i.name}` : '') + (i.available != null ? ` (${i.available} left)` : '');
    if (sel.options[n].textContent !== t) sel.options[n].textContent = t;
  });
}
/** The products as the stock card last read them: the form's list, remembered for the next visit. */
export function showProducts(items) {
  fillProducts(items);
  rememberProducts(items);
}

let lastRequest = null; // { key, body, wait, firstOrderId }
async function sendOrder(req, isRetry) {
  const out = $('order-result');
  $('submit-order').disabled = $('retry-same-key').disabled = true;
  out.className = 'result';
  out.replaceChildren(isRetry ? 'Retrying with the same key…' : 'Sending…');
  const headers = { 'Content-Type': 'application/json', 'Idempotency-Key': req.key };
  if (req.wait) headers.Prefer = 'wait=5';
  try {
    const r = await api('/orders', { method: 'POST', headers, body: JSON.stringify(req.body) }, 20000);
    showOrderResult(r, req, isRetry);
  } catch (e) {
    out.className = 'result bad';
    out.replaceChildren(
      el('strong', { text: `No response: ${e.message}` }),
      el('div', {
        class: 'note',
        text: 'The order may or may not exist — retry with the same key to find out safely.',
      }),
    );
  } finally {
    $('submit-order').disabled = false;
    $('retry-same-key').disabled = !lastRequest;
  }
}
function showOrderResult(r, req, isRetry) {
  const out = $('order-result');
  const replayed = (r.headers.get('Idempotent-Replayed') || '').toLowerCase() === 'true';
  const b = r.body || {};
  const kids = [
    el(
      'div',
      {},
      el('strong', { text: `HTTP ${r.status}` }),
      replayed ? ' · ' : null,
      replayed
        ? el('span', { class: 'badge b-closed', 'data-testid': 'replayed' }, 'Idempotent-Replayed: true')
        : null,
    ),
  ];
  if (r.ok) {
    const o = b.order || b;
    if (o.id) {
      onPlaced(o.id);
      if (!req.firstOrderId) req.firstOrderId = o.id;
      kids.push(
        el(
          'div',
          {},
          'Order ',
          el('code', { 'data-testid': 'result-order-id', text: o.id }),
          ' ',
          el(
            'span',
            { 'data-testid': 'result-status', 'data-order-id': o.id, 'data-status': o.status },
            badge(o.status),
          ),
          el('span', { 'data-testid': 'result-reason' }, o.reason ? ` ${o.reason}` : ''),
        ),
      );
      // order-follow.js keeps the badge up to date until the order is final.
      document.dispatchEvent(new CustomEvent('valerix:order', { detail: { id: o.id, status: o.status } }));
      if (isRetry)
        kids.push(
          el(
            'div',
            { class: 'note' },
            o.id === req.firstOrderId
              ? '✓ Same order id as the first attempt — no duplicate was created.'
              : `⚠ Different order id than the first attempt (${req.firstOrderId}).`,
          ),
        );
      if (replayed)
        kids.push(
          el(
            'div',
            { class: 'note' },
            'A replay returns the first response as it was sent; the table shows the order’s status now.',
          ),
        );
    }
    const msg = b.message || b.detail;
    if (msg) kids.push(el('div', { class: 'note', text: msg }));
  } else {
    if (b.title || b.detail)
      kids.push(el('div', {}, el('strong', { text: b.title || '' }), b.detail ? ` ${b.detail}` : ''));
    const errs = b.errors || b['invalid-params'] || b.invalidParams;
    if (errs) {
      const list = Array.isArray(errs)
        ? errs.map((e) =>
            typeof e === 'string'
              ? e
              : [e.path || e.field || e.name, e.message || e.reason || e.detail].filter(Boolean).join(': ') ||
                JSON.stringify(e),
          )
        : Object.entries(errs).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : fmtVal(v)}`);
      kids.push(el('ul', {}, ...list.map((t) => el('li', { text: t }))));
    }
    const ra = r.headers.get('Retry-After');
    if (ra) kids.push(el('div', { class: 'note', text: `Retry-After: ${ra} s` }));
  }
  kids.push(el('div', { class: 'note' }, 'Idempotency-Key ', el('code', { text: req.key })));
  out.className = `result ${r.ok ? 'ok' : 'bad'}`;
  out.dataset.status = r.status;
  out.dataset.replayed = String(replayed);
  out.replaceChildren(...kids);
}
// More lines: each extra line is a product select (a copy of the first one's options) and a quantity.
function addLine() {
  const n = $('extra-lines').children.length + 2;
  const select = el('select', { 'data-testid': 'line-product', 'aria-label': `Product of line ${n}` });
  select.replaceChildren(...[...$('product-id').options].map((o) => o.cloneNode(true)));
  const qty = el('input', {
    'data-testid': 'line-quantity',
    'aria-label': `Quantity of line ${n}`,
    type: 'number',
    min: '1',
    max: '1000',
    step: '1',
    value: '1',
  });
  const row = el(
    'div',
    { class: 'two', 'data-testid': 'order-line' },
    el('div', {}, select),
    el('div', {}, qty),
  );
  const remove = el('button', { type: 'button', class: 'secondary', 'data-testid': 'remove-line' }, 'Remove');
  remove.addEventListener('click', () => row.remove());
  row.append(remove);
  $('extra-lines').append(row);
}
const quantityOf = (input) => {
  const raw = input.value.trim();
  return raw === '' ? null : Number(raw);
};
function placeOrder(ev) {
  ev.preventDefault();
  // No client-side blocking: the API validates and its problem+json is shown, so its behaviour stays visible.
  const customerId = $('customer-id').value.trim();
  const first = { productId: $('product-id').value, quantity: quantityOf($('quantity')) };
  const extra = [...$('extra-lines').children].map((row) => ({
    productId: row.querySelector('select').value,
    quantity: quantityOf(row.querySelector('input')),
  }));
  lastRequest = {
    key: newUuid(),
    wait: $('prefer-wait').checked,
    // One line: the one-line body, as before; several: `lines`.
    body: extra.length ? { customerId, lines: [first, ...extra] } : { customerId, ...first },
  };
  sendOrder(lastRequest, false);
}

/** onPlaced(id) for every order the API answered with (the orders card marks them as this tab's). */
export function startOrderForm(options) {
  onPlaced = options.onPlaced;
  $('customer-id').value = `cust-${rand4()}`;
  const remembered = rememberedProducts();
  if (remembered.length) fillProducts(remembered);
  else
    $('product-id').replaceChildren(
      el('option', { value: '', disabled: true, selected: true }, 'loading products…'),
    );
  $('add-line').addEventListener('click', addLine);
  $('order-form').addEventListener('submit', placeOrder);
  $('retry-same-key').addEventListener('click', () => {
    if (lastRequest) sendOrder(lastRequest, true);
  });
}
