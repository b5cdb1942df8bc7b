// One order, looked at closely: a modal dialog that any card opens with a button carrying
// data-open-order="<id>" (the orders table's id cell). It shows the order's lines, its status history with times,
// its reason, and a Cancel for a pending or shipped order, followed live to cancelled. Self-contained (index.html
// loads it on its own), so cards that list orders only need that attribute.
import { api, badge, el, newUuid, problemText } from './common.js';

const CANCELLABLE = new Set(['pending', 'shipped']);
// The statuses that move on by themselves (Inventory decides, or gives the stock back): polled while shown.
const MOVING = new Set(['pending', 'cancel_requested']);
const POLL_MS = 1000;

const fmtDateTime = (t) => {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
};

function buildDialog() {
  const title = el('h2', { id: 'order-detail-title' }, 'Order');
  const close = el(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'detail-close', 'aria-label': 'Close' },
    'Close',
  );
  const status = el('span', { 'data-testid': 'detail-status' });
  const facts = el('dl', { class: 'kv', 'data-testid': 'detail-facts' });
  const lines = el('tbody', { 'data-testid': 'detail-lines' });
  const history = el('ol', { class: 'history', 'data-testid': 'detail-history' });
  const historyNote = el('p', { class: 'note', 'data-testid': 'detail-history-note' });
  const reason = el('input', {
    id: 'cancel-reason',
    'data-testid': 'cancel-reason',
    type: 'text',
    maxlength: '200',
    autocomplete: 'off',
    placeholder: 'e.g. changed my mind',
  });
  const cancel = el('button', { type: 'submit', 'data-testid': 'cancel-order' }, 'Cancel order');
  const form = el(
    'form',
    { 'data-testid': 'cancel-form', novalidate: true },
    el('label', { for: 'cancel-reason' }, 'Reason for cancelling (optional)'),
    reason,
    el('div', { class: 'row' }, cancel),
  );
  const retry = el(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'cancel-retry', hidden: true },
    'Retry the cancel with the same key',
  );
  const result = el('div', {
    class: 'result',
    'data-testid': 'cancel-result',
    role: 'status',
    'aria-live': 'polite',
    hidden: true,
  });
  const note = el('p', { class: 'note err', 'data-testid': 'detail-note', role: 'alert' });
  const dialog = el(
    'dialog',
    { id: 'order-detail', class: 'order-detail', 'data-testid': 'order-detail', 'aria-labelledby': title.id },
    el('div', { class: 'detail-head' }, title, status, close),
    note,
    facts,
    el('h3', {}, 'Lines'),
    el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        {},
        el('thead', {}, el('tr', {}, el('th', {}, 'Product'), el('th', { class: 'num' }, 'Qty'))),
        lines,
      ),
    ),
    el('h3', {}, 'History'),
    history,
    historyNote,
    form,
    el('div', { class: 'row' }, retry),
    result,
  );
  document.body.append(dialog);
  return {
    dialog,
    title,
    close,
    status,
    facts,
    lines,
    history,
    historyNote,
    form,
    reason,
    cancel,
    retry,
    result,
    note,
  };
}

let ui;
/** The order shown: its id, the last answer, statuses this dialog saw, the last cancel sent, the poll's state. */
let shown = null;

/**
 * The history: what `?include=history` served (oldest first), else what the order row holds — when it was placed,
 * and each status this dialog saw at its updatedAt, so a cancel's progression still shows step by step.
 */
function historyOf(s) {
  if (s.history) return { entries: s.history, note: '' };
  const entries = [{ status: 'pending', reason: null, changedAt: s.order.createdAt }];
  for (const seen of s.seen) if (seen.status !== 'pending') entries.push(seen);
  return {
    entries,
    note: 'From the order itself: when it was placed, and each status seen while this is open.',
  };
}

function render() {
  const { order } = shown;
  ui.title.textContent = `Order ${order.id.slice(0, 8)}`;
  ui.title.title = order.id;
  ui.status.replaceChildren(badge(order.status));
  ui.dialog.dataset.orderId = order.id;
  ui.dialog.dataset.status = order.status;
  const fact = (k, v, testId) => [el('dt', {}, k), el('dd', testId ? { 'data-testid': testId } : {}, v)];
  ui.facts.replaceChildren(
    ...fact('Order id', el('code', {}, order.id)),
    ...fact('Customer', order.customerId),
    ...fact('Reason', order.reason || '—', 'detail-reason'),
    ...fact('Placed', fmtDateTime(order.createdAt)),
    ...fact('Updated', fmtDateTime(order.updatedAt)),
  );
  const lines = order.lines?.length
    ? order.lines
    : [{ productId: order.productId, quantity: order.quantity }];
  ui.lines.replaceChildren(
    ...lines.map((l) =>
      el(
        'tr',
        { 'data-testid': 'detail-line' },
        el('td', { class: 'mono' }, l.productId),
        el('td', { class: 'num' }, String(l.quantity)),
      ),
    ),
  );
  const { entries, note } = historyOf(shown);
  ui.history.replaceChildren(
    ...entries.map((h) =>
      el(
        'li',
        { 'data-testid': 'history-entry', 'data-status': h.status },
        badge(h.status),
        ' ',
        el('time', { datetime: h.changedAt }, fmtDateTime(h.changedAt)),
        h.reason ? el('span', { class: 'note' }, ` — ${h.reason}`) : null,
      ),
    ),
  );
  ui.historyNote.textContent = note;
  ui.form.hidden = !CANCELLABLE.has(order.status);
}

/** Reads the order (and its history) again; only the newest read of the order shown renders and re-arms the poll. */
async function load(s) {
  if (shown !== s) return;
  clearTimeout(s.timer);
  const ticket = ++s.ticket;
  let r;
  try {
    r = await api(`/orders/${encodeURIComponent(s.id)}?include=history`);
  } catch (e) {
    r = null;
    if (shown === s) ui.note.textContent = `Could not read the order: ${e.message}. Retrying…`;
  }
  if (shown !== s || ticket !== s.ticket) return;
  if (r && !r.ok) ui.note.textContent = problemText(r);
  if (r?.ok && r.body?.order) {
    ui.note.textContent = '';
    const order = r.body.order;
    s.order = order;
    s.history = Array.isArray(r.body.history) ? r.body.history : null;
    const last = s.seen.at(-1);
    if (!last || last.status !== order.status) {
      s.seen.push({ status: order.status, reason: order.reason, changedAt: order.updatedAt });
    }
    render();
  }
  // A shipped order changes only by a cancel, so it is read again only after one (or after an error).
  if (!r?.ok || MOVING.has(s.order?.status)) s.timer = setTimeout(() => load(s), POLL_MS);
}

function open(id) {
  ui ??= wire(buildDialog());
  close();
  shown = { id, ticket: 0, timer: undefined, order: null, history: null, seen: [], lastCancel: null };
  ui.dialog.dataset.orderId = id;
  ui.title.textContent = `Order ${id.slice(0, 8)}`;
  for (const part of [ui.status, ui.facts, ui.lines, ui.history]) part.replaceChildren();
  ui.historyNote.textContent = 'Loading…';
  ui.note.textContent = '';
  ui.form.hidden = true;
  ui.reason.value = '';
  ui.retry.hidden = true;
  ui.result.hidden = true;
  ui.cancel.disabled = ui.retry.disabled = false;
  ui.dialog.showModal();
  load(shown);
}

function close() {
  if (shown) clearTimeout(shown.timer);
  shown = null;
  if (ui?.dialog.open) ui.dialog.close();
}

/** One cancel attempt; `req.key` is new per click of Cancel and the same for its retries. */
async function sendCancel(req, isRetry) {
  const s = shown;
  ui.cancel.disabled = ui.retry.disabled = true;
  ui.result.hidden = false;
  ui.result.className = 'result';
  delete ui.result.dataset.status;
  delete ui.result.dataset.replayed;
  ui.result.replaceChildren(isRetry ? 'Retrying the cancel with the same key…' : 'Cancelling…');
  let r = null;
  let failure = null;
  try {
    r = await api(`/orders/${encodeURIComponent(req.orderId)}/cancel`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Idempotency-Key': req.key },
      body: JSON.stringify(req.body),
    });
  } catch (e) {
    failure = e;
  }
  // Closed, or another order opened meanwhile: this answer is not the one on screen.
  if (shown !== s) return;
  ui.cancel.disabled = ui.retry.disabled = false;
  ui.retry.hidden = false;
  if (r) showCancelResult(r);
  else {
    ui.result.className = 'result bad';
    ui.result.replaceChildren(
      el('strong', {}, `No response: ${failure?.message}`),
      el(
        'div',
        { class: 'note' },
        'The cancel may or may not have happened: retry with the same key to find out.',
      ),
    );
  }
  // The order moved on (cancel_requested), or the refusal says it is not what this dialog showed: read it again.
  load(s);
}

function showCancelResult(r) {
  const replayed = (r.headers.get('Idempotent-Replayed') || '').toLowerCase() === 'true';
  ui.result.dataset.status = String(r.status);
  ui.result.dataset.replayed = String(replayed);
  ui.result.className = `result ${r.ok ? 'ok' : 'bad'}`;
  const marker = replayed
    ? el('span', { class: 'badge b-closed', 'data-testid': 'cancel-replayed' }, 'Idempotent-Replayed: true')
    : null;
  if (r.ok) {
    ui.result.replaceChildren(
      el('strong', {}, `HTTP ${r.status}: cancel requested`),
      marker ? ' · ' : null,
      marker,
      el('div', { class: 'note' }, 'Inventory gives the stock back, then the order is cancelled.'),
    );
    return;
  }
  // The problem document as the API gave it: its detail says why (already cancelled, rejected, in flight…).
  ui.result.replaceChildren(
    el('strong', { 'data-testid': 'cancel-problem' }, problemText(r)),
    marker ? ' · ' : null,
    marker,
  );
}

function wire(parts) {
  parts.close.addEventListener('click', close);
  // Esc closes a modal dialog natively; stop the polling with it.
  parts.dialog.addEventListener('close', () => {
    // The event is queued: when another order was opened meanwhile, the dialog is open again and stays so.
    if (parts.dialog.open) return;
    if (shown) clearTimeout(shown.timer);
    shown = null;
  });
  parts.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!shown?.order) return;
    const reason = parts.reason.value.trim();
    shown.lastCancel = { orderId: shown.id, key: newUuid(), body: reason ? { reason } : {} };
    sendCancel(shown.lastCancel, false);
  });
  parts.retry.addEventListener('click', () => {
    if (shown?.lastCancel) sendCancel(shown.lastCancel, true);
  });
  return parts;
}

document.addEventListener('click', (event) => {
  const opener = event.target instanceof Element ? event.target.closest('[data-open-order]') : null;
  if (opener) open(opener.getAttribute('data-open-order'));
});
