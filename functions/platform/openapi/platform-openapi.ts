import { z } from 'zod';
import { chaosDocument, chaosPatch } from '../../../shared/chaos/chaos-flags.js';
import {
  deadLetterView,
  listDeadLettersQuery,
  redriveDeadLettersBody,
  redriveResult,
} from '../dead-letter-model.js';
import { jsonResponse, problemResponse, RETRY_AFTER, type RouteDocs } from './route-doc.js';

// The platform routes in the OpenAPI document; a new route of functions/platform/index.ts gets its entry here.

const health = z
  .object({ status: z.enum(['ok', 'unavailable']), checkedAt: z.string() })
  .catchall(z.unknown())
  .meta({ id: 'Health' });
const healthAnswers = {
  200: jsonResponse('Every checked service reaches its database and tables.', health),
  404: problemResponse('No such service.'),
  503: {
    ...jsonResponse('A service cannot reach its database or tables.', health),
    headers: { 'Retry-After': RETRY_AFTER },
  },
};
const serviceParam = { params: z.object({ service: z.enum(['orders', 'inventory']) }) };
const deadLetterId = { params: z.object({ id: z.string().meta({ example: 'inventory-12' }) }) };
const latencyWindow = z.object({
  windowSeconds: z.number(),
  averageMs: z.number(),
  count: z.number().int(),
  state: z.enum(['green', 'red']),
  thresholdMs: z.number(),
});

export const PLATFORM_ROUTE_DOCS: RouteDocs = {
  me: {
    signedIn: true,
    summary: 'How customers sign in here, and who is signed in',
    description:
      '`customerAuth` is CUSTOMER_AUTH. Without credentials 200 with `signedIn: false` (and, for appservice, where to sign in); with credentials that are not good the same 401 as any customer route.',
    responses: {
      200: jsonResponse(
        'The sign-in mode and the caller.',
        z.object({
          customerAuth: z.enum(['none', 'appservice', 'jwt']),
          signedIn: z.boolean(),
          customerId: z.string().optional(),
          roles: z.array(z.string()).optional(),
          signInUrl: z.string().optional(),
          signOutUrl: z.string().optional(),
        }),
      ),
    },
  },
  health: { summary: 'Is the service up (generic reasons)', request: serviceParam, responses: healthAnswers },
  healthDetails: {
    summary: 'Health with reasons, backlogs and counters',
    request: serviceParam,
    responses: healthAnswers,
  },
  getChaos: {
    summary: 'The gremlin and crash-simulator flags',
    responses: { 200: jsonResponse('The flags.', chaosDocument) },
  },
  putChaos: {
    summary: 'Change the chaos flags (partial document)',
    request: { body: { content: { 'application/json': { schema: chaosPatch } } } },
    responses: {
      200: jsonResponse('The flags now.', chaosDocument),
      400: problemResponse('The document fails validation.'),
      415: problemResponse('The body is not JSON.'),
    },
  },
  listDeadLetters: {
    summary: "A service's dead letters: its table, then the broker's dead-letter sub-queue",
    request: { query: listDeadLettersQuery },
    responses: {
      200: jsonResponse(
        'A page of dead letters.',
        z.object({
          service: z.enum(['orders', 'inventory']),
          deadLetters: z.array(deadLetterView),
          nextCursor: z.string().nullable(),
          counts: z.object({ total: z.number().int(), open: z.number().int(), broker: z.number().int() }),
          brokerError: z.string().optional(),
        }),
      ),
      400: problemResponse('A query parameter fails validation.'),
    },
  },
  getDeadLetter: {
    summary: 'One dead letter',
    request: deadLetterId,
    responses: {
      200: jsonResponse('The dead letter.', z.object({ deadLetter: deadLetterView })),
      404: problemResponse('No such dead letter.'),
    },
  },
  redriveDeadLetter: {
    summary: 'Re-send one dead letter under a new broker id',
    request: deadLetterId,
    responses: {
      202: jsonResponse('Re-sent.', redriveResult),
      404: problemResponse('No such dead letter.'),
      409: problemResponse('Redriven already, or its order is already final: nothing changed.'),
      422: problemResponse('Not a message any consumer could use.'),
    },
  },
  redriveDeadLetters: {
    summary: 'Re-send the open dead letters a filter picks',
    request: { body: { content: { 'application/json': { schema: redriveDeadLettersBody } } } },
    responses: {
      200: jsonResponse(
        'What each redrive did.',
        z.object({
          service: z.enum(['orders', 'inventory']),
          redriven: z.number().int(),
          results: z.array(redriveResult),
        }),
      ),
      400: problemResponse('The body fails validation.'),
      415: problemResponse('The body is not JSON.'),
    },
  },
  stats: {
    summary: "This instance's live signals and the last 10 minutes of order-API latency",
    responses: {
      200: jsonResponse(
        'The signals.',
        z.object({ orderApi: latencyWindow, at: z.string() }).catchall(z.unknown()),
      ),
    },
  },
  ui: {
    summary: 'The web page',
    responses: { 200: { description: 'HTML.', content: { 'text/html': { schema: z.string() } } } },
  },
  uiAsset: {
    summary: "The page's scripts and styles",
    request: { params: z.object({ asset: z.string() }) },
    responses: {
      200: {
        description: 'A script or style sheet.',
        content: { 'text/javascript': { schema: z.string() }, 'text/css': { schema: z.string() } },
      },
      404: problemResponse('No such asset.'),
    },
  },
  openApi: {
    summary: 'This document',
    responses: {
      200: {
        description: 'OpenAPI 3.1.',
        content: { 'application/json': { schema: z.object({ openapi: z.string() }).catchall(z.unknown()) } },
      },
    },
  },
};
