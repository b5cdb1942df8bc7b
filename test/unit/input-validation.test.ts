import { describe, expect, it } from 'vitest';
import { createOrderBody, decodeCursor, encodeCursor } from '../../functions/orders/order-model.js';
import { clientErrorResponse, requestTarget } from '../../infra/local-host/unrouted.js';
import { isTracestate } from '../../shared/telemetry/trace-context.js';

const cursorOf = (position: unknown) => Buffer.from(JSON.stringify(position)).toString('base64url');
const order = { createdAt: '2026-12-01T13:30:55.905Z', id: '0b9c2a52-39a8-4d7e-9a55-6a1b2f0f4d11' };

describe('order cursors: only what the API wrote', () => {
  it('round-trips a cursor the API wrote', () => {
    expect(decodeCursor(encodeCursor(order))).toEqual(order);
  });

  it.each([
    ['year 0000, which PostgreSQL refuses', cursorOf(['0000-01-01T00:00:00.000Z', order.id])],
    ['an offset PostgreSQL refuses', cursorOf(['2026-12-01T13:30:55.905+23:59', order.id])],
    ['a timestamp toISOString never writes', cursorOf(['2026-12-01T13:30:55Z', order.id])],
    ['a date that does not exist', cursorOf(['2026-02-30T00:00:00.000Z', order.id])],
    ['a time before 1970', cursorOf(['1969-12-31T23:59:59.999Z', order.id])],
    ['an upper-case id', cursorOf([order.createdAt, order.id.toUpperCase()])],
    ['extra members', cursorOf([order.createdAt, order.id, 1])],
    ['padding', `${encodeCursor(order)}==`],
    ['not base64url', '%%%'],
    ['not JSON', Buffer.from('[').toString('base64url')],
  ])('refuses %s', (_what, cursor) => {
    expect(decodeCursor(cursor)).toBeUndefined();
  });
});

describe('text fields', () => {
  const body = { customerId: 'c', productId: 'PROD-001', quantity: 1 };
  it.each(['\u0000', '\n', '\t', '\u007f', '\u0085', '\ud800'])(
    'refuses %j in customerId, naming it',
    (bad) => {
      const result = createOrderBody.safeParse({ ...body, customerId: `cust${bad}1` });
      expect(result.success).toBe(false);
      expect(result.error?.issues.map((i) => i.path.join('.'))).toEqual(['customerId']);
    },
  );
  it('still accepts any other Unicode, and trims', () => {
    expect(createOrderBody.parse({ ...body, customerId: ' 客户-ü-😀 ' }).customerId).toBe('客户-ü-😀');
  });
});

describe('tracestate (W3C Trace Context)', () => {
  it.each(['vendor=value', 'a=1,b=2', 'tenant@sys=x', ' a=1 , ,b=2'])('accepts %j', (value) => {
    expect(isTracestate(value)).toBe(true);
  });
  it.each(['', '=', 'A=1', 'a=1=2', `a=${'x'.repeat(600)}`, Array(33).fill('k=v').join(','), 'a=\u0000'])(
    'refuses %j',
    (value) => {
      expect(isTracestate(value)).toBe(false);
    },
  );
});

describe('local host request targets', () => {
  it('takes the path literally, never resolving it against the Host', () => {
    const target = requestTarget('//evil.example/api/health?x=1', 'localhost:7071', '1.1');
    expect(target.ok && [target.url.host, target.url.pathname]).toEqual([
      'localhost:7071',
      '//evil.example/api/health',
    ]);
  });
  it('accepts the absolute form', () => {
    const target = requestTarget('http://localhost/api/health', 'localhost', '1.1');
    expect(target.ok && target.url.pathname).toBe('/api/health');
  });
  it.each([
    ['a bad Host', '/api/health', 'a b', '1.1'],
    ['a Host with a path', '/api/health', 'h/p', '1.1'],
    ['no Host in HTTP/1.1', '/api/health', undefined, '1.1'],
    ['a target that is not a path', '*', 'localhost', '1.1'],
  ])('answers 400 for %s', (_what, raw, host, version) => {
    const target = requestTarget(raw, host, version);
    expect(target.ok).toBe(false);
    expect(!target.ok && target.response.status).toBe(400);
  });
  it('lets HTTP/1.0 go without a Host', () => {
    expect(requestTarget('/api/health', undefined, '1.0').ok).toBe(true);
  });

  it('maps parser errors to problem statuses', () => {
    const lookup = () => ({ kind: 'not-found' as const });
    const status = (code: string, rawPacket?: string) =>
      clientErrorResponse(
        Object.assign(new Error(code), { code, ...(rawPacket ? { rawPacket: Buffer.from(rawPacket) } : {}) }),
        lookup,
      ).status;
    expect(status('HPE_HEADER_OVERFLOW')).toBe(431);
    expect(status('ERR_HTTP_REQUEST_TIMEOUT')).toBe(408);
    expect(status('HPE_INVALID_HEADER_TOKEN')).toBe(400);
    expect(status('HPE_INVALID_METHOD', 'FOO /api/x HTTP/1.1\r\n')).toBe(404);
    expect(status('HPE_INVALID_METHOD', 'F(O /api/x HTTP/1.1\r\n')).toBe(400);
  });
});
