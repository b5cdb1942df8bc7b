// The "Chaos switches" card: the gremlin and the crash simulator (GET/PUT /api/chaos, operator routes), and the
// activations the stats card reads. The controls are enabled only with an operator key.
import { $, api, netState, operatorKey, poll, problemText, renderKv } from './common.js';
import { onKeyChange, onKeyState, REFUSED_TEXT, refused, showKeyState } from './operator-key.js';

let chaosBusy = false,
  lastPutAt = 0;
const fields = [...document.querySelectorAll('[data-field]')];
function describe(kind, c) {
  if (!c?.enabled) return `${kind === 'gremlin' ? 'Gremlin' : 'Crash simulator'} OFF`;
  const how =
    c.mode === 'random'
      ? `random, p=${c.probability}`
      : `every ${c.everyN}${c.everyN === 1 ? 'st' : c.everyN === 2 ? 'nd' : c.everyN === 3 ? 'rd' : 'th'}`;
  return kind === 'gremlin'
    ? `Gremlin ON (${how}, ${c.latencyMs} ms)`
    : `Crash simulator ON (${how}, target ${c.target})`;
}
// fromSave: the numeric/select fields take the saved values (unsaved edits elsewhere are kept otherwise)
function renderChaos(doc, fromPut, fromSave) {
  if (!doc?.gremlin) return;
  for (const kind of ['gremlin', 'crash']) {
    const c = doc[kind] || {};
    const ind = $(`${kind}-status`);
    ind.textContent = describe(kind, c);
    ind.className = `indicator ${c.enabled ? 'on' : 'off'}`;
    ind.dataset.enabled = String(!!c.enabled);
    if (!chaosBusy || fromPut) $(`${kind}-toggle`).checked = !!c.enabled;
  }
  for (const f of fields) {
    const [kind, key] = f.dataset.field.split('.');
    const v = doc[kind]?.[key];
    if (v == null) continue;
    if (fromSave) delete f.dataset.dirty;
    if (!f.dataset.dirty && document.activeElement !== f) f.value = String(v);
  }
  $('chaos-doc').textContent = JSON.stringify(doc, null, 2);
}
async function putChaos(patch, what, isSave) {
  chaosBusy = true;
  $('chaos-save').disabled = true;
  $('chaos-note').textContent = `Saving ${what}…`;
  try {
    const r = await api('/chaos', {
      operator: true,
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(patch),
    });
    netState('chaos');
    if (r.status === 401) {
      refused.add('chaos');
      showKeyState();
      $('chaos-note').textContent = `Not saved — ${REFUSED_TEXT}`;
      return false;
    }
    if (!r.ok) {
      $('chaos-note').textContent = `Not saved — ${problemText(r)}`;
      return false;
    }
    const doc = r.body && (r.body.gremlin ? r.body : r.body.chaos);
    lastPutAt = Date.now();
    renderChaos(doc, true, isSave);
    $('chaos-note').textContent = `Saved ${what} at ${new Date().toLocaleTimeString()}.`;
    return true;
  } catch (e) {
    netState('chaos', e);
    $('chaos-note').textContent = `Not saved — ${e.message}`;
    return false;
  } finally {
    chaosBusy = false;
    $('chaos-save').disabled = !operatorKey();
  }
}
const controls = () => [$('gremlin-toggle'), $('crash-toggle'), $('chaos-save'), ...fields];
function showKey(key) {
  for (const c of controls()) if (!chaosBusy) c.disabled = !key;
  if (!key) {
    $('chaos-note').textContent =
      'Chaos switches are operator actions: enter the operator key above to read and change them.';
  } else if (refused.has('chaos')) {
    $('chaos-note').textContent = REFUSED_TEXT;
  }
}

/** The activation counters of GET /api/stats. */
export const showActivations = (counts) => renderKv($('chaos-activity'), counts);

export function startChaos() {
  for (const f of fields)
    f.addEventListener('input', () => {
      f.dataset.dirty = '1';
    });
  for (const kind of ['gremlin', 'crash']) {
    const t = $(`${kind}-toggle`);
    t.addEventListener('change', async () => {
      const want = t.checked;
      t.disabled = true;
      const ok = await putChaos({ [kind]: { enabled: want } }, kind + (want ? ' on' : ' off'));
      if (!ok) t.checked = !want;
      t.disabled = !operatorKey();
    });
  }
  $('chaos-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const patch = {
      gremlin: { enabled: $('gremlin-toggle').checked },
      crash: { enabled: $('crash-toggle').checked },
    };
    for (const f of fields) {
      const [kind, key] = f.dataset.field.split('.');
      if (f.value === '') continue;
      patch[kind][key] = f.type === 'number' ? Number(f.value) : f.value;
    }
    putChaos(patch, 'chaos settings', true);
  });
  onKeyState(showKey);
  onKeyChange((key) => {
    if (key) $('chaos-note').textContent = '';
  });
  poll(
    'chaos',
    () => (operatorKey() ? { path: '/chaos', opts: { operator: true } } : null),
    2000,
    (r, startedAt) => {
      if (!r) return;
      if (r.status === 401) {
        refused.add('chaos');
        showKeyState();
        return;
      }
      if (r.ok && refused.delete('chaos')) {
        $('chaos-note').textContent = '';
        showKeyState();
      }
      if (r.ok && !chaosBusy && startedAt > lastPutAt)
        renderChaos(r.body && (r.body.gremlin ? r.body : r.body.chaos));
    },
  );
}
