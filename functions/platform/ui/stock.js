// The "Stock levels" card: GET /api/inventory every 2 s (the gremlin may delay it: the header says by how much).
// The order form's product list is filled from the same answer.
import { $, el, fmtVal, poll, problemText } from './common.js';

let onItems = () => {};
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
    onItems(items);
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

/** onItems(items) with every non-empty product list read. */
export function startStock(options) {
  onItems = options.onItems;
  poll('inventory', '/inventory', 2000, renderStock, 70000);
}
