import { describe, expect, it } from 'vitest';
import { MAX_WAIT_SECONDS, parsePreferWait } from '../../functions/orders/create-order.js';

describe('Prefer: wait=N (RFC 7240)', () => {
  it.each([
    ['wait=3', 3],
    ['WAIT=3', 3],
    ['wait = 4', 4],
    ['wait="5"', 5],
    ['respond-async, wait=2', 2],
    ['handling=lenient; wait=1', 1],
    ['wait=0', 0],
  ])('%s → %d s', (header, seconds) => {
    expect(parsePreferWait(header)).toBe(seconds);
  });

  it(`caps the wait at ${MAX_WAIT_SECONDS} s`, () => {
    expect(parsePreferWait('wait=3600')).toBe(MAX_WAIT_SECONDS);
  });

  it.each([null, '', 'respond-async', 'wait=', 'wait=-1', 'nowait=3', 'wait=abc'])(
    '%s → no wait',
    (header) => {
      expect(parsePreferWait(header)).toBeUndefined();
    },
  );
});
