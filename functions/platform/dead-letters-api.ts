import type { HttpResponseInit } from '@azure/functions';
import { queryParameters } from '../../shared/http/function-key.js';
import { invalidCursor, json, notFound, problem } from '../../shared/http/problem.js';
import { parseRequestPart, readJsonBody } from '../../shared/http/request-body.js';
import type { BrokerDeadLetter } from '../../shared/messaging/broker-dead-letters.js';
import {
  countDeadLetters,
  findDeadLetter,
  listDeadLetters,
  redriveEnvelope,
} from '../../shared/messaging/dead-letters.js';
import type { WrittenMessages } from '../../shared/messaging/outbox-written.js';
import type { HttpHandler } from '../definitions.js';
import { checkInventoryRedrive, redriveInventoryDeadLetter } from '../inventory/dead-letter-redrive.js';
import { redriveOrdersDeadLetter, reopenOrderFailedByInventory } from '../orders/dead-letter-redrive.js';
import { FINAL_STATUSES } from '../orders/order-model.js';
import { findOrder } from '../orders/orders-repository.js';
import type { Runtime } from '../runtime.js';
import {
  brokerView,
  type DeadLetterId,
  type DeadLetterService,
  type DeadLetterView,
  decodeListCursor,
  encodeListCursor,
  formatDeadLetterId,
  listDeadLettersQuery,
  parseDeadLetterId,
  QUEUE_OF_SERVICE,
  type RedriveResult,
  redriveDeadLettersBody,
  tableView,
} from './dead-letter-model.js';

/** How many broker dead letters a listing counts at most (a peek; Service Bus has no cheap count for a reader). */
const BROKER_COUNT_LIMIT = 100;

const unknownId = (id: string) =>
  notFound(
    `There is no dead letter "${id}". Ids look like "orders-12" (a dead_letters row) or "inventory-broker-7" (a message in the broker's dead-letter sub-queue); GET /api/dead-letters?service=orders lists them.`,
  );

/** The broker's side is best effort in a listing: the tables still show when Service Bus cannot be reached. */
async function peekBroker(rt: Runtime, service: DeadLetterService, from: string, limit: number) {
  try {
    return { messages: await rt.brokerDeadLetters.peek(QUEUE_OF_SERVICE[service], from, limit) };
  } catch (err) {
    return {
      messages: [] as BrokerDeadLetter[],
      error: `the broker's dead-letter sub-queue could not be read: ${(err as Error)?.message ?? err}`,
    };
  }
}

/** GET /api/dead-letters?service=orders|inventory&cursor=&limit=: the table's rows newest first, then the broker's. */
export function listDeadLettersHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const query = parseRequestPart(listDeadLettersQuery, queryParameters(request), 'The query string');
    if (!query.ok) return query.response;
    const { service, limit } = query.value;
    const cursor = query.value.cursor === undefined ? undefined : decodeListCursor(query.value.cursor);
    if (query.value.cursor !== undefined && !cursor) {
      return invalidCursor();
    }
    const deadLetters: DeadLetterView[] = [];
    let nextCursor: string | null = null;
    let brokerError: string | undefined;
    if (!cursor || 'table' in cursor) {
      const rows = await listDeadLetters(rt.db, service, { beforeId: cursor?.table, limit: limit + 1 });
      deadLetters.push(...rows.slice(0, limit).map((row) => tableView(service, row)));
      if (rows.length > limit) nextCursor = encodeListCursor({ table: String(rows[limit - 1]?.id) });
    }
    if (!nextCursor) {
      const remaining = limit - deadLetters.length;
      const from = cursor && 'broker' in cursor ? cursor.broker : '0';
      const peeked = await peekBroker(rt, service, from, remaining + 1);
      brokerError = peeked.error;
      deadLetters.push(...peeked.messages.slice(0, remaining).map((m) => brokerView(service, m)));
      if (peeked.messages.length > remaining) {
        const last = peeked.messages[remaining - 1];
        nextCursor = encodeListCursor({ broker: last ? String(BigInt(last.sequenceNumber) + 1n) : from });
      }
    }
    const counted = await countDeadLetters(rt.db, service);
    const broker = await peekBroker(rt, service, '0', BROKER_COUNT_LIMIT);
    return json(200, {
      service,
      deadLetters,
      nextCursor,
      counts: { ...counted, broker: broker.messages.length },
      ...((brokerError ?? broker.error) ? { brokerError: brokerError ?? broker.error } : {}),
    });
  };
}

async function findView(rt: Runtime, id: DeadLetterId): Promise<DeadLetterView | undefined> {
  if (id.source === 'table') {
    const row = await findDeadLetter(rt.db, id.service, id.key);
    return row ? tableView(id.service, row) : undefined;
  }
  const [message] = await rt.brokerDeadLetters.peek(QUEUE_OF_SERVICE[id.service], id.key, 1);
  return message && message.sequenceNumber === id.key ? brokerView(id.service, message) : undefined;
}

/** GET /api/dead-letters/{id}. */
export function getDeadLetterHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const raw = request.params.id ?? '';
    const id = parseDeadLetterId(raw);
    if (!id) return unknownId(raw);
    const deadLetter = await findView(rt, id);
    return deadLetter ? json(200, { deadLetter }) : unknownId(raw);
  };
}

const FINAL_DETAIL = (status: string) =>
  `Its order is already ${status}: redriving it would change nothing, so it was not sent again.`;

/** Publishes a redrive's outbox row now; if that fails, the outbox relay sends it (it is committed). */
async function sendCopy(rt: Runtime, owner: DeadLetterService, written: WrittenMessages) {
  await rt.outbox(owner).sendAfterCommit(written, {
    kind: 'publish_redrive',
    orderId: written.messages[0]?.envelope.correlationId,
    fallback: 'the outbox relay sends the redriven copy later',
  });
}

async function redriveTable(rt: Runtime, id: DeadLetterId, publicId: string): Promise<RedriveResult> {
  if (id.service === 'orders') {
    const done = await redriveOrdersDeadLetter(rt.db, id.key, publicId);
    switch (done.outcome) {
      case 'redriven':
        await sendCopy(rt, 'orders', done);
        return {
          id: publicId,
          outcome: 'redriven',
          detail: done.reopened
            ? 'Re-sent; its order went from failed back to pending and takes the result again.'
            : 'Re-sent.',
          brokerMessageId: done.brokerMessageId,
          reopened: done.reopened,
        };
      case 'order-final':
        return { id: publicId, outcome: 'order-final', detail: FINAL_DETAIL(done.status) };
      case 'not-redrivable':
        return { id: publicId, outcome: 'not-redrivable', detail: done.detail };
      case 'already-redriven':
        return {
          id: publicId,
          outcome: 'already-redriven',
          detail: 'It was redriven already; nothing was sent again.',
        };
      case 'not-found':
        return { id: publicId, outcome: 'not-found', detail: `There is no dead letter "${publicId}".` };
    }
  }
  const check = await checkInventoryRedrive(rt.db, id.key);
  if (check.outcome === 'not-found')
    return { id: publicId, outcome: 'not-found', detail: `There is no dead letter "${publicId}".` };
  if (check.outcome === 'already-redriven') {
    return {
      id: publicId,
      outcome: 'already-redriven',
      detail: 'It was redriven already; nothing was sent again.',
    };
  }
  if (check.outcome === 'not-redrivable')
    return { id: publicId, outcome: 'not-redrivable', detail: check.detail };
  if (check.outcome === 'already-reserved') {
    return {
      id: publicId,
      outcome: 'order-final',
      detail: `Stock for its order was already decided (${check.result}): redriving it would change nothing.`,
    };
  }
  // Orders first: the order must be able to take the result before Inventory can produce one.
  let reopened = false;
  if (check.row.order_id && (check.row.body as { type?: unknown }).type === 'OrderCancelled') {
    // A cancel's copy: its order waits in cancel_requested for the StockReleased the copy brings.
    const order = await findOrder(rt.db, check.row.order_id);
    if (order && order.status !== 'cancel_requested') {
      return { id: publicId, outcome: 'order-final', detail: FINAL_DETAIL(order.status) };
    }
  } else if (check.row.order_id) {
    const order = await reopenOrderFailedByInventory(rt.db, check.row.order_id, publicId);
    if (order.status && order.status !== 'pending' && !order.reopened) {
      return { id: publicId, outcome: 'order-final', detail: FINAL_DETAIL(order.status) };
    }
    reopened = order.reopened;
  }
  const done = await redriveInventoryDeadLetter(rt.db, check.row, publicId);
  if (done.outcome === 'already-redriven') {
    return {
      id: publicId,
      outcome: 'already-redriven',
      detail: 'It was redriven already; nothing was sent again.',
    };
  }
  if (done.outcome === 'already-reserved') {
    return {
      id: publicId,
      outcome: 'order-final',
      detail: `Stock for its order was already decided (${done.result}): redriving it would change nothing.`,
    };
  }
  await sendCopy(rt, 'inventory', done);
  return {
    id: publicId,
    outcome: 'redriven',
    detail: reopened
      ? 'Re-sent; its order went from failed back to pending and is reserved again.'
      : 'Re-sent.',
    brokerMessageId: done.brokerMessageId,
    reopened,
  };
}

/** Receive + re-send + complete: the copy goes out under a new broker id; a final order keeps it where it is. */
async function redriveBroker(rt: Runtime, id: DeadLetterId, publicId: string): Promise<RedriveResult> {
  const queue = QUEUE_OF_SERVICE[id.service];
  let refused: RedriveResult | undefined;
  let brokerMessageId: string | undefined;
  const outcome = await rt.brokerDeadLetters.redrive(queue, id.key, async (message) => {
    const copy = redriveEnvelope(message.body, publicId);
    if (!copy) {
      refused = {
        id: publicId,
        outcome: 'not-redrivable',
        detail: 'Its body is not a message envelope: no consumer could ever use it.',
      };
      return false;
    }
    const orderId = (copy.data as { orderId?: unknown }).orderId;
    const order = typeof orderId === 'string' ? await findOrder(rt.db, orderId) : undefined;
    if (order && FINAL_STATUSES.includes(order.status)) {
      refused = {
        id: publicId,
        outcome: 'order-final',
        detail: `${FINAL_DETAIL(order.status)} It stays in the sub-queue.`,
      };
      return false;
    }
    await rt.policies.publish.execute(() => rt.publisher.publish([{ queue, envelope: copy }]));
    brokerMessageId = `${copy.messageId}:redrive-${publicId}`;
    return true;
  });
  if (outcome === 'redriven') {
    return {
      id: publicId,
      outcome: 'redriven',
      detail: 'Re-sent and taken off the dead-letter sub-queue.',
      ...(brokerMessageId ? { brokerMessageId } : {}),
    };
  }
  if (refused) return refused;
  return {
    id: publicId,
    outcome: 'not-found',
    detail: `There is no message "${publicId}" in the ${queue} dead-letter sub-queue (redriven already, or never there).`,
  };
}

function redriveOne(rt: Runtime, id: DeadLetterId): Promise<RedriveResult> {
  const publicId = formatDeadLetterId(id);
  return id.source === 'table' ? redriveTable(rt, id, publicId) : redriveBroker(rt, id, publicId);
}

const STATUS_OF: Record<RedriveResult['outcome'], number> = {
  redriven: 202,
  'already-redriven': 409,
  'order-final': 409,
  'not-redrivable': 422,
  'not-found': 404,
};

function redriveResponse(result: RedriveResult): HttpResponseInit {
  if (result.outcome === 'redriven') return json(202, result);
  if (result.outcome === 'not-found') return unknownId(result.id);
  const title = result.outcome === 'not-redrivable' ? 'Not redrivable' : 'Nothing to redrive';
  return problem(STATUS_OF[result.outcome], title, result.detail, {
    type: result.outcome,
    extensions: { id: result.id, outcome: result.outcome },
  });
}

/** POST /api/dead-letters/{id}/redrive. */
export function redriveDeadLetterHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const raw = request.params.id ?? '';
    const id = parseDeadLetterId(raw);
    if (!id) return unknownId(raw);
    return redriveResponse(await redriveOne(rt, id));
  };
}

/** POST /api/dead-letters/redrive: the open dead letters a filter picks, at most `limit`, table first. */
export function redriveDeadLettersHandler(rt: Runtime): HttpHandler {
  return async (request) => {
    const body = await readJsonBody(request, redriveDeadLettersBody);
    if (!body.ok) return body.response;
    const { service, source, errorContains, limit } = body.value;
    const picked: DeadLetterId[] = [];
    if (source !== 'broker') {
      const rows = await listDeadLetters(rt.db, service, { limit, errorContains, openOnly: true });
      picked.push(...rows.map((r) => ({ service, source: 'table' as const, key: String(r.id) })));
    }
    if (source !== 'table' && picked.length < limit) {
      const { messages } = await peekBroker(rt, service, '0', BROKER_COUNT_LIMIT);
      const needle = errorContains?.toLowerCase();
      for (const m of messages) {
        if (picked.length >= limit) break;
        if (needle && !m.reason.toLowerCase().includes(needle)) continue;
        picked.push({ service, source: 'broker', key: m.sequenceNumber });
      }
    }
    const results: RedriveResult[] = [];
    // One at a time: each is its own state change, and a broker redrive holds the sub-queue's messages locked.
    for (const id of picked) results.push(await redriveOne(rt, id));
    return json(200, {
      service,
      redriven: results.filter((r) => r.outcome === 'redriven').length,
      results,
    });
  };
}
