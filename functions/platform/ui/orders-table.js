// The "Recent orders" card: every customer's orders with the operator key, else the orders placed in this tab;
// a row whose status just changed is highlighted for 3 s.
import {
  $,
  api,
  badge,
  el,
  fmtTime,
  fmtVal,
  operatorKey,
  poll,
  problemText,
  replaceKeepingFocus,
} from './common.js';
import { REFUSED_TEXT, refused, showKeyState } from './operator-key.js';

const myOrders = new Set();
/** An order this tab placed: shown without the operator key, and starred. */
export const addMine = (id) => myOrders.add(id);

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
  replaceKeepingFocus(
    tbody,
    'data-open-order',
    ...orders.map((o) =>
      el(
        'tr',
        {
          'data-testid': 'order-row',
          'data-order-id': o.id,
          'data-status': o.status,
          class: [hot(o.id) ? 'changed' : '', myOrders.has(o.id) ? 'mine' : ''].join(' ').trim() || null,
        },
        // The id opens the order's detail (order-detail.js): its lines, history and Cancel.
        el(
          'td',
          { class: 'mono', title: o.id },
          el(
            'button',
            {
              type: 'button',
              class: 'link',
              'data-open-order': o.id,
              'data-testid': 'open-order',
              'aria-label': `Order ${o.id}: details and cancel`,
            },
            String(o.id).slice(0, 8) + (myOrders.has(o.id) ? ' ★' : ''),
          ),
        ),
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

export function startOrdersTable() {
  poll(
    'orders',
    () => (operatorKey() ? { path: '/orders?limit=20', opts: { operator: true } } : null),
    1000,
    renderOrdersOrOwn,
  );
}
