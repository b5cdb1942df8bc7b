// The order card follows its order: after order-form.js shows an order (event `valerix:order`), poll
// GET /api/orders/{id} until the status is final and update the card's status badge.
const FINAL = new Set(['shipped', 'rejected', 'failed']);
let following = 0;

async function follow(id, generation) {
  for (let delay = 300; generation === following; delay = Math.min(2000, delay * 1.5)) {
    await new Promise((r) => setTimeout(r, delay));
    if (generation !== following) return;
    let order;
    try {
      const res = await fetch(`/api/orders/${encodeURIComponent(id)}`, { cache: 'no-store' });
      if (!res.ok) continue;
      order = (await res.json()).order;
    } catch {
      continue;
    }
    const box = document.querySelector('[data-testid="result-status"]');
    if (!box || box.dataset.orderId !== id) return;
    const badge = box.querySelector('.badge');
    if (badge) {
      badge.className = `badge b-${order.status}`;
      badge.textContent = order.status;
    }
    box.dataset.status = order.status;
    const reason = document.querySelector('[data-testid="result-reason"]');
    if (reason) reason.textContent = order.reason ? ` ${order.reason}` : '';
    if (FINAL.has(order.status)) return;
  }
}

document.addEventListener('valerix:order', (event) => {
  const { id, status } = event.detail || {};
  following++;
  if (id && !FINAL.has(status)) follow(id, following);
});
