// Dead letters per service (its table and the broker's dead-letter sub-queue), with reason, attempts and a
// redrive button; a dead letter that holds a cancel back (its order still cancel_requested, from
// /api/health/details) says so. Operator routes: sent with the operator key common.js keeps in this tab's sessionStorage.
import { api, el, operatorKey, replaceKeepingFocus } from './common.js';

const SERVICES = ['orders', 'inventory'];
const call = (path, method = 'GET') => api(`/${path}`, { method, operator: true });

async function redrive(id) {
  const note = document.getElementById('dead-letters-note');
  const r = await call(`dead-letters/${encodeURIComponent(id)}/redrive`, 'POST');
  note.textContent = `${id}: ${r.body?.detail ?? `HTTP ${r.status}`}`;
  refresh();
}

/** `d` holds back a cancel: `{orderId}` from health's cancelsWaitingOnDeadLetter, else undefined. */
function row(d, waiting) {
  const button = el(
    'button',
    { type: 'button', class: 'secondary', 'data-redrive': d.id, 'data-testid': `redrive-${d.id}` },
    'Redrive',
  );
  if (d.redrivenAt) button.disabled = true;
  button.addEventListener('click', () => redrive(d.id));
  return el(
    'tr',
    { 'data-testid': 'dead-letter-row', 'data-id': d.id },
    el('td', {}, el('code', {}, d.id)),
    el('td', {}, d.messageType ?? '—'),
    el(
      'td',
      { class: 'reason' },
      waiting
        ? el(
            'strong',
            { 'data-testid': 'cancel-waiting', title: waiting.orderId },
            `Cancel waiting on a dead letter (order ${waiting.orderId.slice(0, 8)}): redrive it to finish. `,
          )
        : null,
      d.reason,
    ),
    el('td', { class: 'num' }, String(d.attempts)),
    el('td', {}, d.redrivenAt ? 'redriven' : button),
  );
}

async function refresh() {
  const body = document.querySelector('#dead-letters-table tbody');
  const note = document.getElementById('dead-letters-note');
  if (!body) return;
  if (!operatorKey()) {
    body.replaceChildren(
      el('tr', {}, el('td', { colspan: 5, class: 'note' }, 'Enter the operator key to see dead letters.')),
    );
    return;
  }
  try {
    const [health, ...pages] = await Promise.all([
      call('health/details').catch(() => null),
      ...SERVICES.map((s) => call(`dead-letters?service=${s}&limit=20`)),
    ]);
    const waiting = new Map((health?.body?.cancelsWaitingOnDeadLetter ?? []).map((w) => [w.deadLetter, w]));
    if (pages.some((p) => p.status === 401)) {
      note.textContent = 'The operator key was refused (HTTP 401).';
      return;
    }
    const rows = [];
    pages.forEach((p, i) => {
      const service = SERVICES[i];
      const counts = p.body?.counts ?? { open: 0, broker: 0 };
      const count = document.getElementById(`dead-letters-${service}`);
      count.textContent = `${service}: ${counts.open} open · ${counts.broker} in the broker`;
      count.dataset.open = String(counts.open + counts.broker);
      rows.push(...(p.body?.deadLetters ?? []).map((d) => row(d, waiting.get(d.id))));
    });
    replaceKeepingFocus(
      body,
      'data-redrive',
      ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 5, class: 'note' }, 'No dead letters.'))]),
    );
  } catch {
    note.textContent = 'dead letters unavailable';
  }
}

refresh();
setInterval(refresh, 3000);
