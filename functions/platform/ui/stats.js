// The "Order API latency" card: the green/red latency tile, the circuit breakers and the counters, from
// GET /api/stats every second. The same answer carries the chaos activations, which the chaos card shows.
import { $, el, poll, problemText, renderKv } from './common.js';

let onChaosActivity = () => {};
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
  if (b.chaos) onChaosActivity(b.chaos);
}

/** onChaosActivity(counts) with the chaos activations of every answer that has them. */
export function startStats(options) {
  onChaosActivity = options.onChaosActivity;
  poll('stats', '/stats', 1000, renderStats);
}
