// The order API over the last 10 minutes: p50 and p99 latency (lines, left axis) and orders per second (bars,
// right axis), from GET /api/stats `history`, redrawn every 2 s as SVG. An ES module of its own (no inline script).
const SVG = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 200;
const PAD = { left: 44, right: 44, top: 12, bottom: 22 };

function node(name, attrs = {}, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

const niceMax = (v) => {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
};

export function drawChart(svg, points) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const n = points.length;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const x = (i) => PAD.left + (n <= 1 ? 0 : (i / (n - 1)) * innerW);
  const maxMs = niceMax(Math.max(0, ...points.map((p) => p.p99Ms ?? 0)));
  const maxRate = niceMax(Math.max(0, ...points.map((p) => p.ordersPerSecond)));
  const yMs = (v) => PAD.top + innerH - (v / maxMs) * innerH;
  const yRate = (v) => PAD.top + innerH - (v / maxRate) * innerH;
  svg.append(node('rect', { x: PAD.left, y: PAD.top, width: innerW, height: innerH, class: 'chart-frame' }));
  const barW = Math.max(1, innerW / Math.max(1, n) - 2);
  const bars = node('g', { class: 'chart-rate', 'data-series': 'orders-per-second' });
  points.forEach((p, i) => {
    if (!p.ordersPerSecond) return;
    const top = yRate(p.ordersPerSecond);
    bars.append(node('rect', { x: x(i) - barW / 2, y: top, width: barW, height: PAD.top + innerH - top }));
  });
  svg.append(bars);
  for (const [key, cls] of [
    ['p50Ms', 'chart-p50'],
    ['p99Ms', 'chart-p99'],
  ]) {
    const d = points
      .map((p, i) => (p[key] == null ? null : `${x(i).toFixed(1)},${yMs(p[key]).toFixed(1)}`))
      .filter(Boolean);
    if (d.length)
      svg.append(node('polyline', { points: d.join(' '), class: cls, 'data-series': key, fill: 'none' }));
  }
  svg.append(
    node('text', { x: 4, y: PAD.top + 10, class: 'chart-axis' }, `${maxMs} ms`),
    node('text', { x: 4, y: PAD.top + innerH, class: 'chart-axis' }, '0'),
    node('text', { x: W - 4, y: PAD.top + 10, class: 'chart-axis', 'text-anchor': 'end' }, `${maxRate}/s`),
    node('text', { x: PAD.left, y: H - 6, class: 'chart-axis' }, '−10 min'),
    node('text', { x: W - PAD.right, y: H - 6, class: 'chart-axis', 'text-anchor': 'end' }, 'now'),
  );
}

async function refresh() {
  const svg = document.getElementById('latency-chart');
  const note = document.getElementById('latency-chart-note');
  if (!svg) return;
  try {
    const res = await fetch('/api/stats', { cache: 'no-store' });
    const body = await res.json();
    const points = body?.history?.points ?? [];
    drawChart(svg, points);
    const last = [...points].reverse().find((p) => p.count > 0);
    svg.dataset.updated = body.at;
    svg.dataset.requests = String(points.reduce((sum, p) => sum + p.count, 0));
    note.textContent = last
      ? `latest 10 s: p50 ${last.p50Ms} ms · p99 ${last.p99Ms} ms · ${last.ordersPerSecond} orders/s`
      : 'no order API requests in the last 10 minutes';
  } catch {
    note.textContent = 'stats unavailable';
  }
}

refresh();
setInterval(refresh, 2000);
