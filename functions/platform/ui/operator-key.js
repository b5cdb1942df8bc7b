// The operator key bar: enter or forget the key (common.js keeps it in this tab's sessionStorage) and say whether
// it is missing, in use or refused. Cards that show operator views report a refusal here (`refused`).
import { $, operatorKey, setOperatorKey } from './common.js';

export const REFUSED_TEXT = 'The operator key was refused (HTTP 401): check it and enter it again.';
/** The operator views (orders, health, chaos) whose last call answered 401. */
export const refused = new Set();

const stateListeners = [];
const changeListeners = [];
/** fn(key) after every change of what the bar shows: the chaos card enables its controls with a key. */
export const onKeyState = (fn) => stateListeners.push(fn);
/** fn(key) after the operator entered or forgot a key. */
export const onKeyChange = (fn) => changeListeners.push(fn);

export function showKeyState() {
  const key = operatorKey();
  const status = $('operator-key-status');
  status.dataset.state = !key ? 'none' : refused.size ? 'refused' : 'set';
  status.textContent = !key
    ? 'No operator key: read-only view (your own orders, stock, health, stats).'
    : refused.size
      ? REFUSED_TEXT
      : 'Operator key in use for this tab (kept in session storage until the tab closes).';
  $('operator-key-clear').disabled = !key;
  for (const fn of stateListeners) fn(key);
}

function useKey(value) {
  setOperatorKey(value);
  refused.clear();
  showKeyState();
  for (const fn of changeListeners) fn(value);
}

export function startOperatorKey() {
  $('operator-key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = $('operator-key').value.trim();
    $('operator-key').value = '';
    useKey(value);
  });
  $('operator-key-clear').addEventListener('click', () => useKey(''));
  showKeyState();
}
