import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * IETF `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): the client names an attempt; the server
 * stores the first response under that key with a fingerprint of the payload and replays it for the same key and
 * the same payload. The record is written in the same transaction as the effect, so the check cannot race.
 */
export const idempotencyKey = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (a UUID is a good choice)');

/** Header name, and the header a replayed response carries. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** How long a request waits for another in-flight request with the same key before answering 409. */
export const IN_FLIGHT_WAIT_MS = 2000;

/**
 * Which answers a key binds, the rule of Stripe's API: an answer is stored only once the operation started
 * executing. A refusal before that (400 validation, 401/403 authorization, 404 an unknown target) is not stored and
 * leaves the key free, so the corrected retry with the same key is the request it was meant to be, not a 422.
 */
export function bindsIdempotencyKey(status: number): boolean {
  return !(status === 400 || status === 401 || status === 403 || status === 404);
}

/** Canonical JSON (sorted keys) so that the same payload always has the same fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function fingerprint(payload: unknown): string {
  return createHash('sha256').update(canonical(payload)).digest('hex');
}

export interface StoredResponse {
  fingerprint: string;
  status: number;
  /** The response body exactly as first sent (JSON text). */
  body: string;
}
