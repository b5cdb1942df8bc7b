// The "Service health" card: GET /api/health/details with the operator key (reasons, backlogs, dead letters),
// else, or when the key is refused, the public GET /api/health (up or down and a generic reason).
import { $, api, badge, el, flatten, fmtTime, fmtVal, operatorKey, poll } from './common.js';
import { refused, showKeyState } from './operator-key.js';

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

export function startHealth() {
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
}
