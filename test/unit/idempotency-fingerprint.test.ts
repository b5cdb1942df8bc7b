import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../shared/idempotency/idempotency-key.js';

describe('fingerprint (same key + same body → replay; other body → 422)', () => {
  it('is the same for the same payload whatever the key order', () => {
    expect(fingerprint({ customerId: 'c', productId: 'p', quantity: 2 })).toBe(
      fingerprint({ quantity: 2, productId: 'p', customerId: 'c' }),
    );
  });

  it('ignores absent (undefined) fields, as JSON does', () => {
    expect(fingerprint({ a: 1, b: undefined })).toBe(fingerprint({ a: 1 }));
  });

  it('differs when any value, type or nesting differs', () => {
    const base = fingerprint({ customerId: 'c', productId: 'p', quantity: 2 });
    expect(fingerprint({ customerId: 'c', productId: 'p', quantity: 3 })).not.toBe(base);
    expect(fingerprint({ customerId: 'c', productId: 'p', quantity: '2' })).not.toBe(base);
    expect(fingerprint({ customerId: 'c', productId: 'P', quantity: 2 })).not.toBe(base);
    expect(fingerprint({ x: [1, 2] })).not.toBe(fingerprint({ x: [2, 1] }));
    expect(fingerprint({ x: { y: 1 } })).not.toBe(fingerprint({ x: '{"y":1}' }));
  });

  it('is a sha256 hex digest', () => {
    expect(fingerprint({})).toMatch(/^[0-9a-f]{64}$/);
  });
});
