// Customers who sign in (CUSTOMER_AUTH appservice or jwt): the sign-in bar and the "My orders" card. GET /api/me
// says the mode; with `none` both stay hidden and the page is as it always was. appservice: App Service's own
// sign-in page (/.auth/login/aad) and its session cookie; jwt: a pasted access token in this tab's sessionStorage,
// sent as Bearer by common.js. Signed in, the order form's customer is the signed-in one.
import {
  $,
  api,
  badge,
  customerToken,
  el,
  fmtTime,
  poll,
  problemText,
  replaceKeepingFocus,
  setCustomerToken,
} from './common.js';

let signedIn = false;

function status(text, state) {
  const s = $('sign-in-status');
  s.textContent = text;
  s.dataset.state = state;
}

function showCustomer(me) {
  signedIn = Boolean(me.signedIn);
  const input = $('customer-id');
  if (signedIn) {
    input.value = me.customerId;
    input.readOnly = true;
    status(`Signed in as ${me.customerId}.`, 'signed-in');
  } else {
    input.readOnly = false;
    status(me.customerAuth === 'jwt' ? 'Not signed in: paste an access token.' : 'Not signed in.', 'none');
  }
  $('my-orders').hidden = !signedIn;
  $('sign-in-forget').hidden = me.customerAuth !== 'jwt' || !customerToken();
  $('sign-out').hidden = me.customerAuth !== 'appservice' || !signedIn;
}

async function checkSignIn() {
  const r = await api('/me');
  if (!r.ok) {
    signedIn = false;
    $('my-orders').hidden = true;
    $('customer-id').readOnly = false;
    status(`Sign-in refused — ${problemText(r)}`, 'refused');
    $('sign-in-forget').hidden = !customerToken();
    return r.body;
  }
  showCustomer(r.body);
  return r.body;
}

function renderMyOrders(r) {
  const note = $('my-orders-note');
  if (!r) return;
  if (!r.ok) {
    note.textContent = problemText(r);
    note.className = 'note err';
    return;
  }
  note.textContent = '';
  const orders = r.body?.orders || [];
  const tbody = $('my-orders-table').tBodies[0];
  if (!orders.length) {
    tbody.replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'note', text: 'No orders yet.' })));
    return;
  }
  replaceKeepingFocus(
    tbody,
    'data-open-order',
    ...orders.map((o) =>
      el(
        'tr',
        { 'data-testid': 'my-order-row', 'data-order-id': o.id, 'data-status': o.status },
        // The order-detail dialog (order-detail.js) opens from any [data-open-order].
        el(
          'td',
          { class: 'mono', title: o.id },
          el(
            'button',
            {
              type: 'button',
              class: 'link',
              'data-open-order': o.id,
              'aria-label': `Order ${o.id}: details and cancel`,
            },
            String(o.id).slice(0, 8),
          ),
        ),
        el('td', { text: (o.lines || []).map((l) => `${l.quantity} × ${l.productId}`).join(', ') }),
        el('td', {}, badge(o.status)),
        el('td', { class: 'hide-sm', text: fmtTime(o.createdAt) }),
      ),
    ),
  );
}

export async function startCustomerSignIn() {
  let me;
  try {
    me = (await api('/me')).body;
  } catch {
    return; // the API banner says the API is unreachable; the page works as in `none` mode meanwhile
  }
  if (!me || me.customerAuth === 'none' || !me.customerAuth) return;
  $('sign-in').hidden = false;
  const appService = me.customerAuth === 'appservice';
  $('sign-in-link').hidden = !appService;
  $('sign-in-form').hidden = appService;
  if (appService) {
    const back = encodeURIComponent(location.pathname);
    $('sign-in-link').href = `${me.signInUrl}?post_login_redirect_uri=${back}`;
    $('sign-out').href = `${me.signOutUrl}?post_logout_redirect_uri=${back}`;
  }
  $('sign-in-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = $('customer-token')
      .value.trim()
      .replace(/^Bearer\s+/i, '');
    $('customer-token').value = '';
    setCustomerToken(token);
    await checkSignIn();
  });
  $('sign-in-forget').addEventListener('click', async () => {
    setCustomerToken('');
    await checkSignIn();
  });
  if (customerToken()) await checkSignIn();
  else showCustomer(me);
  poll('my-orders', () => (signedIn ? { path: '/me/orders?limit=20' } : null), 2000, renderMyOrders);
}
