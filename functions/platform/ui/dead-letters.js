// Dead letters per service (its table and the broker's dead-letter sub-queue), with reason, attempts and a
// redrive button. Operator routes: sent with the operator key common.js keeps in this tab's sessionStorage.
const KEY_STORAGE = 'valerix.functionKey';
const SERVICES = ['orders', 'inventory'];

function h(tag, attrs = {}, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) n.setAttribute(k, String(v));
  for (const kid of kids) if (kid != null) n.append(kid);
  return n;
}

async function call(path, method = 'GET') {
  const key = sessionStorage.getItem(KEY_STORAGE) || '';
  const res = await fetch(`/api/${path}`, {
    method,
    cache: 'no-store',
    headers: key ? { 'x-functions-key': key } : {},
  });
  let body = null;
  try {
    body = await res.json();
  } catch {}
  return { status: res.status, body };
}

async function redrive(id) {
  const note = document.getElementById('dead-letters-note');
  const r = await call(`dead-letters/${encodeURIComponent(id)}/redrive`, 'POST');
  note.textContent = `${id}: ${r.body?.detail ?? `HTTP ${r.status}`}`;
  refresh();
}

function row(d) {
  const button = h(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': `redrive-${d.id}` },
    'Redrive',
  );
  if (d.redrivenAt) button.disabled = true;
  button.addEventListener('click', () => redrive(d.id));
  return h(
    'tr',
    { 'data-testid': 'dead-letter-row', 'data-id': d.id },
    h('td', {}, h('code', {}, d.id)),
    h('td', {}, d.messageType ?? '—'),
    h('td', { class: 'reason' }, d.reason),
    h('td', { class: 'num' }, String(d.attempts)),
    h('td', {}, d.redrivenAt ? 'redriven' : button),
  );
}

async function refresh() {
  const body = document.querySelector('#dead-letters-table tbody');
  const note = document.getElementById('dead-letters-note');
  if (!body) return;
  if (!sessionStorage.getItem(KEY_STORAGE)) {
    body.replaceChildren(
      h('tr', {}, h('td', { colspan: 5, class: 'note' }, 'Enter the operator key to see dead letters.')),
    );
    return;
  }
  try {
    const pages = await Promise.all(SERVICES.map((s) => call(`dead-letters?service=${s}&limit=20`)));
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
      rows.push(...(p.body?.deadLetters ?? []).map(row));
    });
    body.replaceChildren(
      ...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 5, class: 'note' }, 'No dead letters.'))]),
    );
  } catch {
    note.textContent = 'dead letters unavailable';
  }
}

refresh();
setInterval(refresh, 3000);
