// What every card of the dashboard shares: DOM and formatting helpers, the fetch wrapper and the pollers (whose
// failures raise the "API unreachable" banner). No card's state lives here, only the operator key the wrapper sends.

const API = '/api';
export const $ = (id) => document.getElementById(id);
export const el = (tag, attrs, ...kids) => {
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
export const badge = (value, cls) =>
  el('span', { class: `badge b-${cls || value}` }, value == null || value === '' ? '—' : String(value));
export const fmtTime = (t) => {
  const d = new Date(t);
  return Number.isNaN(d) ? '' : d.toLocaleTimeString();
};
export const fmtVal = (v) =>
  v == null
    ? '—'
    : typeof v === 'number'
      ? Number.isInteger(v)
        ? v.toLocaleString()
        : v.toFixed(2)
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);
export function flatten(obj, prefix = '', out = []) {
  if (obj == null || typeof obj !== 'object') return out;
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
    else out.push([key, v]);
  }
  return out;
}
export function renderKv(dl, obj) {
  const rows = flatten(obj);
  dl.replaceChildren(
    ...(rows.length
      ? rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: fmtVal(v) })])
      : [el('dt', { text: 'none yet' }), el('dd', { text: '' })]),
  );
}
/**
 * `parent.replaceChildren(...kids)` for a table the page redraws while someone uses it: a focused control inside
 * it that has `attr` is focused again in its redrawn twin (same `attr` value), so a keyboard user is not sent back
 * to the top of the page by every poll.
 */
export function replaceKeepingFocus(parent, attr, ...kids) {
  const active = document.activeElement;
  const key = parent.contains(active) ? active.getAttribute(attr) : null;
  parent.replaceChildren(...kids);
  if (key == null) return;
  const twin = [...parent.querySelectorAll(`[${attr}]`)].find((n) => n.getAttribute(attr) === key);
  twin?.focus({ preventScroll: true });
}
/** An Idempotency-Key: crypto.randomUUID exists only in secure contexts, so a plain-http page builds a v4 UUID. */
export function newUuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
export const problemText = (r) => {
  const b = r.body || {};
  return `HTTP ${r.status}${b.title ? ` ${b.title}` : ''}${b.detail ? `: ${b.detail}` : ''}`;
};

// ---- Operator key: operator routes (all orders, chaos, health details) need a function key ----
// Kept in this tab's sessionStorage only: it is gone when the tab closes and never shared with other tabs.
const KEY_STORAGE = 'valerix.functionKey';
export const operatorKey = () => sessionStorage.getItem(KEY_STORAGE) || '';
export function setOperatorKey(value) {
  if (value) sessionStorage.setItem(KEY_STORAGE, value);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// ---- Customer sign-in (CUSTOMER_AUTH=jwt): a pasted access token, sent as Bearer on customer routes ----
// Also sessionStorage only. With CUSTOMER_AUTH=appservice the platform's session cookie does this instead.
const TOKEN_STORAGE = 'valerix.customerToken';
export const customerToken = () => sessionStorage.getItem(TOKEN_STORAGE) || '';
export function setCustomerToken(value) {
  if (value) sessionStorage.setItem(TOKEN_STORAGE, value);
  else sessionStorage.removeItem(TOKEN_STORAGE);
}

// ---- HTTP: never throws for HTTP errors; throws only on network failure / timeout ----
// `operator: true` sends the operator key (x-functions-key), as the Functions host expects on function-level routes;
// other calls carry the customer's token when one was pasted (customer-sign-in.js).
export async function api(path, opts = {}, timeoutMs = 10000) {
  const { operator, ...init } = opts;
  const headers = { ...init.headers };
  if (operator && operatorKey()) headers['x-functions-key'] = operatorKey();
  if (!operator && customerToken()) headers.authorization = `Bearer ${customerToken()}`;
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
export function netState(name, err) {
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
export function poll(name, request, everyMs, onResult, timeoutMs, onError) {
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
/** Polls `name` now (and restarts its timer), e.g. after the operator key changed. */
export const refresh = (name) => pollers.get(name)?.();
