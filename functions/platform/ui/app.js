// The dashboard's entry (an ES module: the page's Content-Security-Policy allows no inline script). Each card is a
// module with its own state; this file only connects them. latency-chart.js, dead-letters.js and order-follow.js
// are cards the page loads on their own.
import { showActivations, startChaos } from './chaos.js';
import { refresh } from './common.js';
import { startCustomerSignIn } from './customer-sign-in.js';
import { startHealth } from './health.js';
import { onKeyChange, startOperatorKey } from './operator-key.js';
import { showProducts, startOrderForm } from './order-form.js';
import { addMine, startOrdersTable } from './orders-table.js';
import { startStats } from './stats.js';
import { startStock } from './stock.js';

startOrderForm({ onPlaced: addMine });
// After the form: signed in, the form's customer is the signed-in one.
startCustomerSignIn();
// Before the key bar first shows its state: the chaos card enables or disables its controls with it.
startChaos();
startOperatorKey();
onKeyChange(() => {
  for (const name of ['orders', 'health', 'chaos']) refresh(name);
});
startOrdersTable();
startStock({ onItems: showProducts });
startHealth();
startStats({ onChaosActivity: showActivations });
