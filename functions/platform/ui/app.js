// The dashboard's script: a file of its own, because the page's Content-Security-Policy allows no inline script.
const API = '/api';
const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') n.className = v;
    else if (k === 'text') n.textContent = v;
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids) if (c != null) n.append(c instanceof Node ? c : String(c));
  return n;
};
const badge = (value, cls) =>
  el('span', { class: `badge b-${cls || value}` }, value == null || value === '' ? '—' : String(value));
const fmtTime = (t) => {
  const d = new Date(t);
  return Number.isNaN(d) ? '' : d.toLocaleTimeString();
};
const fmtVal = (v) =>
  v == null
    ? '—'
    : typeof v === 'number'
      ? Number.isInteger(v)
        ? v.toLocaleString()
        : v.toFixed(2)
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);
function flatten(obj, prefix = '', out = []) {
  if (obj == null || typeof obj !== 'object') return out;
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
    else out.push([key, v]);
  }
  return out;
}
function renderKv(dl, obj) {
  const rows = flatten(obj);
  dl.replaceChildren(
    ...(rows.length
      ? rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: fmtVal(v) })])
      : [el('dt', { text: 'none yet' }), el('dd', { text: '' })]),
  );
}

// ---- Operator key: operator routes (all orders, chaos, health details) need a function key ----
// Kept in this tab's sessionStorage only: it is gone when the tab closes and never shared with other tabs.
const KEY_STORAGE = 'valerix.functionKey';
const operatorKey = () => sessionStorage.getItem(KEY_STORAGE) || '';
const refused = new Set(); // operator views whose last call answered 401
const REFUSED_TEXT = 'The operator key was refused (HTTP 401): check it and enter it again.';

// ---- HTTP: never throws for HTTP errors; throws only on network failure / timeout ----
// `operator: true` sends the operator key (x-functions-key), as the Functions host expects on function-level routes.
async function api(path, opts = {}, timeoutMs = 10000) {
  const { operator, ...init } = opts;
  const headers = { ...init.headers };
  if (operator && operatorKey()) headers['x-functions-key'] = operatorKey();
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const res = await fetch(API + path, { cache: 'no-store', ...init, headers, signal: ctrl.signal });
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = { detail: text.slice(0, 300) };
    }
    return { status: res.status, ok: res.ok, headers: res.headers, body };
  } catch (e) {
    throw new Error(e && e.name === 'AbortError' ? `timed out after ${timeoutMs / 1000} s` : 'network error');
  } finally {
    clearTimeout(timer);
  }
}
const failing = new Map();
function netState(name, err) {
  if (err) failing.set(name, err.message);
  else failing.delete(name);
  const b = $('api-banner');
  b.hidden = failing.size === 0;
  if (failing.size)
    b.textContent = `API unreachable — ${[...failing].map(([n, m]) => `${n}: ${m}`).join('; ')}. Retrying…`;
}
// `request` is a path, or a function returning the path and options for this tick; when it returns null, there
// is no call and onResult gets null.
const pollers = new Map();
function poll(name, request, everyMs, onResult, timeoutMs, onError) {
  let timer;
  const tick = async () => {
    clearTimeout(timer);
    const startedAt = Date.now();
    const what = typeof request === 'function' ? request() : { path: request };
    try {
      const r = what ? await api(what.path, what.opts, timeoutMs) : null;
      netState(name);
      await onResult(r, startedAt);
    } catch (e) {
      netState(name, e);
      if (onError) onError(e);
    } finally {
      timer = setTimeout(tick, everyMs);
    }
  };
  pollers.set(name, tick);
  tick();
}
const refresh = (name) => pollers.get(name)?.();
const problemText = (r) => {
  const b = r.body || {};
  return `HTTP ${r.status}${b.title ? ` ${b.title}` : ''}${b.detail ? `: ${b.detail}` : ''}`;
};

// ---- Create order ----
const rand4 = () => Math.random().toString(36).slice(2, 6).padEnd(4, '0');
$('customer-id').value = `cust-${rand4()}`;
// The products come from GET /api/inventory (the stock poll below). Until its first answer the list shows the
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
const remembered = rememberedProducts();
if (remembered.length) fillProducts(remembered);
else
  $('product-id').replaceChildren(
    el('option', { value: '', disabled: true, selected: true }, 'loading products…'),
  );

const myOrders = new Set();
let lastRequest = null; // { key, body, wait, firstOrderId }
function newUuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
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
      myOrders.add(o.id);
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
$('add-line').addEventListener('click', () => {
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
});
const quantityOf = (input) => {
  const raw = input.value.trim();
  return raw === '' ? null : Number(raw);
};
$('order-form').addEventListener('submit', (ev) => {
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
});
$('retry-same-key').addEventListener('click', () => {
  if (lastRequest) sendOrder(lastRequest, true);
});

// ---- Orders table ----
const seenStatus = new Map();
const changedAt = new Map();
let ordersLoaded = false,
  ordersSig = '';
function ordersNote(text, isError) {
  const n = $('orders-note');
  n.textContent = text;
  n.className = isError ? 'note err' : 'note';
}
// Without the operator key (or with a refused one) the table shows the orders placed in this tab, each read by
// its id, which any customer may do.
async function ownOrders() {
  const ids = [...myOrders].slice(-20).reverse();
  const found = await Promise.all(
    ids.map((id) =>
      api(`/orders/${encodeURIComponent(id)}`).then(
        (r) => r.body?.order,
        () => null,
      ),
    ),
  );
  return found.filter(Boolean);
}
async function renderOrdersOrOwn(r) {
  const keyed = Boolean(operatorKey());
  if (keyed && r && r.status !== 401) {
    refused.delete('orders');
    if (!r.ok) {
      ordersNote(problemText(r), true);
      return;
    }
    ordersNote('');
    $('orders-scope').textContent = 'all customers';
    renderOrders(r.body?.orders || []);
    return;
  }
  if (keyed) refused.add('orders');
  showKeyState();
  renderOrders(await ownOrders());
  $('orders-scope').textContent = 'this tab only';
  if (keyed) ordersNote(REFUSED_TEXT, true);
  else
    ordersNote(
      'Every customer’s orders are an operator view: enter the operator key above to see them. Until then the table shows the orders placed in this tab.',
    );
}
function renderOrders(orders) {
  const now = Date.now();
  for (const o of orders) {
    const prev = seenStatus.get(o.id);
    if (ordersLoaded && prev !== o.status) changedAt.set(o.id, now);
    seenStatus.set(o.id, o.status);
  }
  ordersLoaded = true;
  const hot = (id) => now - (changedAt.get(id) || 0) < 3000;
  const sig = JSON.stringify(
    orders.map((o) => [o.id, o.status, o.reason, o.updatedAt, hot(o.id), myOrders.has(o.id)]),
  );
  if (sig === ordersSig) return;
  ordersSig = sig;
  const tbody = $('orders-table').tBodies[0];
  if (!orders.length) {
    tbody.replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'note', text: 'No orders yet.' })));
    return;
  }
  tbody.replaceChildren(
    ...orders.map((o) =>
      el(
        'tr',
        {
          'data-testid': 'order-row',
          'data-order-id': o.id,
          'data-status': o.status,
          class: [hot(o.id) ? 'changed' : '', myOrders.has(o.id) ? 'mine' : ''].join(' ').trim() || null,
        },
        el('td', { class: 'mono', title: o.id }, String(o.id).slice(0, 8) + (myOrders.has(o.id) ? ' ★' : '')),
        el('td', { class: 'hide-sm', text: o.customerId }),
        ...orderItemCells(o),
        el('td', {}, badge(o.status)),
        el('td', { text: o.reason || '' }),
        el('td', { class: 'hide-sm', text: fmtTime(o.updatedAt || o.createdAt) }),
      ),
    ),
  );
}

/** The product and quantity cells of an order row: its one line, or "N lines" with the lines in the tooltip. */
function orderItemCells(o) {
  const lines =
    Array.isArray(o.lines) && o.lines.length ? o.lines : [{ productId: o.productId, quantity: o.quantity }];
  if (lines.length === 1) {
    return [
      el('td', { text: lines[0].productId }),
      el('td', { class: 'num', text: fmtVal(lines[0].quantity) }),
    ];
  }
  const all = lines.map((l) => `${l.quantity} × ${l.productId}`).join(', ');
  return [
    el('td', { title: all, 'data-testid': 'order-lines', text: `${lines.length} lines` }),
    el('td', { class: 'num', title: all, text: fmtVal(lines.reduce((n, l) => n + l.quantity, 0)) }),
  ];
}

// ---- Stock ----
function renderStock(r) {
  if (!r.ok) {
    $('stock-note').textContent = problemText(r);
    return;
  }
  $('stock-note').textContent = '';
  const delay = r.headers.get('X-Gremlin-Delay-Ms');
  $('stock-delay').textContent = Number(delay) > 0 ? `gremlin delayed this read by ${delay} ms` : '';
  const items = (r.body && (r.body.items || r.body.inventory)) || [];
  if (items.length) {
    fillProducts(items);
    rememberProducts(items);
  }
  $('stock-table').tBodies[0].replaceChildren(
    ...items.map((i) =>
      el(
        'tr',
        { 'data-product-id': i.productId },
        el('td', { class: 'mono', text: i.productId }),
        el('td', { text: i.name || '' }),
        el('td', { class: 'num', text: fmtVal(i.available) }),
      ),
    ),
  );
}

// ---- Health ----
const UP = new Set(['ok', 'up', 'healthy', 'pass', 'green']);
function renderService(box, name, s) {
  const status = s
    ? String(s.status || (s.ok === true ? 'ok' : s.ok === false ? 'down' : 'unknown'))
    : 'unknown';
  const up = UP.has(status.toLowerCase());
  const state =
    !s || status === 'unknown' ? 'unknown' : up ? 'up' : status === 'degraded' ? 'degraded' : 'down';
  box.dataset.status = state;
  const kids = [
    el('strong', { text: name }),
    ' ',
    badge(state),
    status !== state && status !== 'ok' ? el('span', { class: 'note', text: ` (${status})` }) : null,
  ];
  if (s && typeof s === 'object') {
    const msg = [s.detail, s.message, s.error].filter((x) => typeof x === 'string' && x).join(' — ');
    if (msg) kids.push(el('div', { class: 'msg', text: msg }));
    const extra = flatten(s).filter(([k]) => !['status', 'ok', 'detail', 'message', 'error'].includes(k));
    if (extra.length)
      kids.push(el('div', { class: 'msg' }, extra.map(([k, v]) => `${k}: ${fmtVal(v)}`).join(' · ')));
  }
  box.replaceChildren(...kids.filter(Boolean));
}
// With the operator key the panel shows the details route (reasons, backlogs, dead letters); without it, or
// with a refused key, the public health (up or down and a generic reason).
async function renderHealthOrPublic(r) {
  if (r.status === 401) {
    refused.add('health');
    showKeyState();
    r = await api('/health');
  } else if (operatorKey()) {
    refused.delete('health');
  }
  renderHealth(r);
  if (!operatorKey())
    $('health-note').textContent += ' · the reasons behind a failure are shown with the operator key';
}
function renderHealth(r) {
  const b = r.body || {};
  const svcs = b.services || {};
  const overall = b.status || (r.ok ? 'ok' : 'unhealthy');
  const ob = $('health-overall');
  ob.className = `badge b-${overall === 'ok' ? 'up' : overall === 'degraded' ? 'degraded' : 'down'}`;
  ob.textContent = `${overall} · HTTP ${r.status}`;
  renderService(
    $('health-orders'),
    'orders',
    svcs.orders || (r.ok ? null : { status: 'down', detail: b.detail }),
  );
  renderService(
    $('health-inventory'),
    'inventory',
    svcs.inventory || (r.ok ? null : { status: 'down', detail: b.detail }),
  );
  $('health-note').textContent =
    !svcs.orders && !svcs.inventory && b.detail
      ? b.detail
      : b.checkedAt
        ? `checked ${fmtTime(b.checkedAt)}`
        : '';
}

// ---- Stats ----
function renderStats(r) {
  if (!r.ok) {
    $('stats-note').textContent = problemText(r);
    return;
  }
  $('stats-note').textContent = '';
  const b = r.body || {};
  const a = b.orderApi || {};
  const tile = $('latency-tile');
  tile.dataset.state = a.state === 'red' ? 'red' : a.state === 'green' ? 'green' : 'unknown';
  $('latency-average').textContent =
    typeof a.averageMs === 'number' ? Math.round(a.averageMs).toLocaleString() : '—';
  $('latency-window').textContent = `last ${a.windowSeconds || 30} s`;
  $('latency-sub').textContent =
    `${(a.state ? `${a.state.toUpperCase()} · ` : '') + (a.count ?? 0)} requests · red above ${a.thresholdMs ?? 1000} ms`;
  const br = b.breakers || {};
  const names = Object.keys(br);
  $('breakers').replaceChildren(
    ...(names.length
      ? names.map((n) => {
          const st = br[n] && typeof br[n] === 'object' ? br[n].state : br[n];
          const change = b.breakerChanges?.[n];
          const since = change?.at ? ` since ${new Date(change.at).toLocaleTimeString()}` : '';
          const s = el(
            'span',
            { class: `badge b-${st}`, 'data-breaker': n, 'data-state': st },
            `${n}: ${st}${since}`,
          );
          if (change) s.title = `${change.from} → ${change.state} at ${change.at}`;
          return s;
        })
      : [el('span', { class: 'note', text: 'none reported' })]),
  );
  renderKv($('counters'), b.counters || {});
  if (b.chaos) renderKv($('chaos-activity'), b.chaos);
}

// ---- Chaos ----
let chaosBusy = false,
  lastPutAt = 0;
const fields = [...document.querySelectorAll('[data-field]')];
for (const f of fields)
  f.addEventListener('input', () => {
    f.dataset.dirty = '1';
  });
function describe(kind, c) {
  if (!c?.enabled) return `${kind === 'gremlin' ? 'Gremlin' : 'Crash simulator'} OFF`;
  const how =
    c.mode === 'random'
      ? `random, p=${c.probability}`
      : `every ${c.everyN}${c.everyN === 1 ? 'st' : c.everyN === 2 ? 'nd' : c.everyN === 3 ? 'rd' : 'th'}`;
  return kind === 'gremlin'
    ? `Gremlin ON (${how}, ${c.latencyMs} ms)`
    : `Crash simulator ON (${how}, target ${c.target})`;
}
// fromSave: the numeric/select fields take the saved values (unsaved edits elsewhere are kept otherwise)
function renderChaos(doc, fromPut, fromSave) {
  if (!doc?.gremlin) return;
  for (const kind of ['gremlin', 'crash']) {
    const c = doc[kind] || {};
    const ind = $(`${kind}-status`);
    ind.textContent = describe(kind, c);
    ind.className = `indicator ${c.enabled ? 'on' : 'off'}`;
    ind.dataset.enabled = String(!!c.enabled);
    if (!chaosBusy || fromPut) $(`${kind}-toggle`).checked = !!c.enabled;
  }
  for (const f of fields) {
    const [kind, key] = f.dataset.field.split('.');
    const v = doc[kind]?.[key];
    if (v == null) continue;
    if (fromSave) delete f.dataset.dirty;
    if (!f.dataset.dirty && document.activeElement !== f) f.value = String(v);
  }
  $('chaos-doc').textContent = JSON.stringify(doc, null, 2);
}
async function putChaos(patch, what, isSave) {
  chaosBusy = true;
  $('chaos-save').disabled = true;
  $('chaos-note').textContent = `Saving ${what}…`;
  try {
    const r = await api('/chaos', {
      operator: true,
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(patch),
    });
    netState('chaos');
    if (r.status === 401) {
      refused.add('chaos');
      showKeyState();
      $('chaos-note').textContent = `Not saved — ${REFUSED_TEXT}`;
      return false;
    }
    if (!r.ok) {
      $('chaos-note').textContent = `Not saved — ${problemText(r)}`;
      return false;
    }
    const doc = r.body && (r.body.gremlin ? r.body : r.body.chaos);
    lastPutAt = Date.now();
    renderChaos(doc, true, isSave);
    $('chaos-note').textContent = `Saved ${what} at ${new Date().toLocaleTimeString()}.`;
    return true;
  } catch (e) {
    netState('chaos', e);
    $('chaos-note').textContent = `Not saved — ${e.message}`;
    return false;
  } finally {
    chaosBusy = false;
    $('chaos-save').disabled = !operatorKey();
  }
}
for (const kind of ['gremlin', 'crash']) {
  const t = $(`${kind}-toggle`);
  t.addEventListener('change', async () => {
    const want = t.checked;
    t.disabled = true;
    const ok = await putChaos({ [kind]: { enabled: want } }, kind + (want ? ' on' : ' off'));
    if (!ok) t.checked = !want;
    t.disabled = !operatorKey();
  });
}
$('chaos-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const patch = {
    gremlin: { enabled: $('gremlin-toggle').checked },
    crash: { enabled: $('crash-toggle').checked },
  };
  for (const f of fields) {
    const [kind, key] = f.dataset.field.split('.');
    if (f.value === '') continue;
    patch[kind][key] = f.type === 'number' ? Number(f.value) : f.value;
  }
  putChaos(patch, 'chaos settings', true);
});

// ---- Operator key form and what it unlocks ----
const CHAOS_CONTROLS = () => [$('gremlin-toggle'), $('crash-toggle'), $('chaos-save'), ...fields];
function showKeyState() {
  const key = operatorKey();
  const status = $('operator-key-status');
  status.dataset.state = !key ? 'none' : refused.size ? 'refused' : 'set';
  status.textContent = !key
    ? 'No operator key: read-only view (your own orders, stock, health, stats).'
    : refused.size
      ? REFUSED_TEXT
      : 'Operator key in use for this tab (kept in session storage until the tab closes).';
  $('operator-key-clear').disabled = !key;
  for (const c of CHAOS_CONTROLS()) if (!chaosBusy) c.disabled = !key;
  if (!key) {
    $('chaos-note').textContent =
      'Chaos switches are operator actions: enter the operator key above to read and change them.';
  } else if (refused.has('chaos')) {
    $('chaos-note').textContent = REFUSED_TEXT;
  }
}
$('operator-key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('operator-key').value.trim();
  $('operator-key').value = '';
  if (value) sessionStorage.setItem(KEY_STORAGE, value);
  else sessionStorage.removeItem(KEY_STORAGE);
  refused.clear();
  if (value) $('chaos-note').textContent = '';
  showKeyState();
  for (const name of ['orders', 'health', 'chaos']) refresh(name);
});
$('operator-key-clear').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  refused.clear();
  showKeyState();
  for (const name of ['orders', 'health', 'chaos']) refresh(name);
});
showKeyState();

// ---- Start polling ----
poll(
  'orders',
  () => (operatorKey() ? { path: '/orders?limit=20', opts: { operator: true } } : null),
  1000,
  renderOrdersOrOwn,
);
poll('inventory', '/inventory', 2000, renderStock, 70000);
poll(
  'health',
  () => (operatorKey() ? { path: '/health/details', opts: { operator: true } } : { path: '/health' }),
  2000,
  renderHealthOrPublic,
  10000,
  (e) => {
    for (const n of ['orders', 'inventory'])
      renderService($(`health-${n}`), n, {
        status: 'unknown',
        detail: `health endpoint unreachable (${e.message})`,
      });
    $('health-overall').className = 'badge b-unknown';
    $('health-overall').textContent = 'unknown';
  },
);
poll('stats', '/stats', 1000, renderStats);
poll(
  'chaos',
  () => (operatorKey() ? { path: '/chaos', opts: { operator: true } } : null),
  2000,
  (r, startedAt) => {
    if (!r) return;
    if (r.status === 401) {
      refused.add('chaos');
      showKeyState();
      return;
    }
    if (r.ok && refused.delete('chaos')) {
      $('chaos-note').textContent = '';
      showKeyState();
    }
    if (r.ok && !chaosBusy && startedAt > lastPutAt)
      renderChaos(r.body && (r.body.gremlin ? r.body : r.body.chaos));
  },
);
