import fc from 'fast-check';
import type { HttpFunctionSpec } from '../../functions/definitions.js';
import { SEED_PRODUCT_IDS } from '../../shared/seed-catalog.js';
import type { RawRequest } from './raw-http.js';

/**
 * fast-check generators of hostile HTTP requests for every route of the function table: strings from every
 * Unicode class with NULs, controls and lone surrogates; huge, negative and non-integer numbers; deep nesting;
 * wrong types; duplicate keys; bad percent-encoding; odd methods and headers. Most requests are a valid one with
 * something broken, so that they get past the first check and reach deeper code.
 */

// ── strings ────────────────────────────────────────────────────────────────────────────────────────────────────
const controlChar = fc.constantFrom(
  '\u0000',
  '\u0001',
  '\t',
  '\n',
  '\r',
  '\u001b',
  '\u007f',
  '\u0085',
  '\u009f',
  '\ud800', // lone surrogates
  '\udfff',
);
const oddChar = fc.constantFrom(
  '\u00a0',
  '\u00e9',
  'e\u0301',
  '\u200b',
  '\u202e',
  '\u2028',
  '\ufeff',
  '\uffff',
  '\u{10ffff}',
  '\u{1f600}',
  '%',
  '/',
  '\\',
  '"',
  "'",
  '<',
  '{',
  ' ',
  '?',
  '#',
  '&',
  '=',
);
/** Any code point, surrogates included (String.fromCodePoint makes a lone one). */
const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp));

const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.oneof(anyCodePoint, controlChar, oddChar), maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc
    .tuple(fc.constantFrom('PROD-001', 'cust-1', ''), controlChar)
    .map(([text, control]) => `${text}${control}`),
  fc.constantFrom(
    '',
    ' ',
    '   ',
    '\u0000',
    'null',
    '__proto__',
    'constructor',
    "'; DROP TABLE orders.orders; --",
    '%00',
    '../../etc/passwd',
    '{{x}}',
  ),
  fc.integer({ min: 60, max: 3000 }).map((n) => 'x'.repeat(n)),
);

// ── JSON text (written by hand, so it can hold huge numbers and duplicate keys) ─────────────────────────────────
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.constantFrom(
    '0',
    '-0',
    '-1',
    '1.5',
    '1e308',
    '1e309',
    '-1e309',
    '1E2',
    '2147483648',
    '9007199254740993',
  ),
);
const scalarText = fc.oneof(
  hostileString.map((s) => JSON.stringify(s)),
  numberText,
  fc.constantFrom('true', 'false', 'null'),
);
const keyText = fc
  .oneof(
    fc.constantFrom('customerId', 'productId', 'quantity', 'gremlin', 'crash', 'enabled', '__proto__', ''),
    hostileString,
  )
  .map((k) => JSON.stringify(k));

const { json: jsonText } = fc.letrec<{ json: string; array: string; object: string }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarText, tie('array'), tie('object')),
  array: fc.array(tie('json'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
  object: fc
    .array(fc.tuple(keyText, tie('json')), { maxLength: 4 })
    .map((members) => `{${members.map(([k, v]) => `${k}:${v}`).join(',')}}`),
}));

const deepNesting = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([depth, open]) => `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`);

/** Bytes that are not JSON, or not UTF-8, or truncated JSON. */
const notJson = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc
    .constantFrom('{', '{"quantity":', '[1,]', "{'a':1}", 'NaN', '\u0000', '{"a":1}{"b":2}')
    .map((s) => Buffer.from(s)),
  fc.constant(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])), // {"\xc3(":1}: invalid UTF-8
);

/** A JSON object text built from members; a member may repeat a key (JSON.parse keeps the last). */
const objectText = (members: [string, string][]) =>
  `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/**
 * A valid body, then one of: a field replaced by anything, a field dropped, an unknown field added, a key repeated
 * with another value, or the whole body replaced by something else entirely.
 */
function mutatedBody(valid: fc.Arbitrary<Record<string, string>>, extraKeys: string[]): fc.Arbitrary<Buffer> {
  const members = valid.map((fields) => Object.entries(fields));
  return fc
    .oneof(
      { weight: 3, arbitrary: members },
      fc
        .tuple(members, fc.nat(), fc.oneof(jsonText, deepNesting))
        .map(([m, i, value]) =>
          m.map(([k, v], j) => [k, j === i % m.length ? value : v] as [string, string]),
        ),
      fc.tuple(members, fc.nat()).map(([m, i]) => m.filter((_, j) => j !== i % m.length)),
      fc
        .tuple(members, fc.oneof(fc.constantFrom(...extraKeys), hostileString), jsonText)
        .map(([m, k, v]) => [...m, [k, v] as [string, string]]),
      fc.tuple(members, fc.nat(), jsonText, fc.boolean()).map(([m, i, v, first]) => {
        const [key] = m[i % m.length]!;
        return first ? [[key, v] as [string, string], ...m] : [...m, [key, v] as [string, string]];
      }),
    )
    .map((m) => Buffer.from(objectText(m)))
    .chain((body) =>
      fc.oneof(
        { weight: 6, arbitrary: fc.constant(body) },
        jsonText.map((t) => Buffer.from(t)),
        deepNesting.map((t) => Buffer.from(t)),
        notJson,
        fc.constant(Buffer.alloc(70 * 1024, 0x20)), // over the 64 KiB limit
      ),
    );
}

const jsonOf = (value: unknown) => JSON.stringify(value);

const orderBody = mutatedBody(
  fc.record({
    customerId: fc.constantFrom('fuzz-1', 'fuzz-2', ' padded ', 'ünïcødé-客户').map(jsonOf),
    productId: fc.constantFrom(...SEED_PRODUCT_IDS, 'PROD-404').map(jsonOf),
    quantity: fc.integer({ min: 1, max: 3 }).map(jsonOf),
  }),
  ['productName', 'idempotencyKey', 'id', 'status'],
);

const restockBody = mutatedBody(fc.record({ quantity: fc.integer({ min: 1, max: 5 }).map(jsonOf) }), [
  'productId',
  'available',
]);

/** Chaos patches that, when valid, leave both the gremlin and the crash simulator off. */
const chaosBody = mutatedBody(
  fc.oneof(
    fc.record({ gremlin: fc.constant(jsonOf({ enabled: false, latencyMs: 5 })) }),
    fc.record({ crash: fc.constant(jsonOf({ enabled: false, mode: 'random', probability: 0.5 })) }),
  ),
  ['gremlin', 'crash', 'other'],
);

// ── paths, queries, headers, methods ───────────────────────────────────────────────────────────────────────────
const badPercent = fc.constantFrom(
  '%',
  '%E0%A4%A',
  '%zz',
  '%C0%AF',
  '%ED%A0%80',
  '%FF',
  '%F0%9F%98',
  '%00',
  '%0A',
  '%2F',
  '%2e%2e',
  '..',
  '%25',
);
/** A path segment as sent on the wire: valid values, encoded hostile text, broken encodings, raw bytes. */
function segment(valid: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...valid) },
    hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\u00e9'))),
    hostileString.map((s) => s.replace(/[\s/?#\ud800-\udfff]/g, '')), // raw: non-ASCII goes as UTF-8 bytes
    fc.tuple(fc.constantFrom(...valid), badPercent).map(([v, bad]) => `${v}${bad}`),
    badPercent,
  );
}

const VALID_PARAMS: Record<string, string[]> = {
  id: [crypto.randomUUID(), '00000000-0000-4000-8000-000000000000', 'not-a-uuid'],
  productId: [...SEED_PRODUCT_IDS, 'PROD-404'],
  service: ['orders', 'inventory', 'nope'],
};

function routePath(route: string): fc.Arbitrary<string> {
  const parts = route.split('/').map((part) => {
    const param = /^\{([A-Za-z0-9_]+)(\?)?/.exec(part);
    if (!param) return fc.constant(part);
    const value = segment(VALID_PARAMS[param[1]!] ?? ['x']);
    return param[2] ? fc.option(value, { nil: '' }) : value;
  });
  return fc.tuple(...parts).map((p) => `/api/${p.filter((x) => x !== '').join('/')}`);
}

const positionText = (position: [string, string]) =>
  Buffer.from(JSON.stringify(position)).toString('base64url');
/** Timestamps that look like ISO 8601 but that PostgreSQL refuses, or that toISOString() never writes. */
const oddTimestamp = fc.constantFrom(
  '0000-01-01T00:00:00.000Z',
  '2026-02-30T00:00:00.000Z',
  '2026-12-01T13:30:55Z',
  '2026-12-01T13:30:55.905+23:59',
  '2026-12-01T13:30:55.905+99:99',
  '2026-12-01T13:30:55.905-00:00',
  '1969-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59.999Z',
);

/** A cursor this API never wrote: well-formed base64url JSON around a bad position, or plain junk. */
export const forgedCursor = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(oddTimestamp, fc.uuid({ version: 4 })).map(positionText) },
  fc
    .tuple(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.uuid(),
    )
    .map(positionText),
  fc.tuple(hostileString, fc.oneof(fc.uuid(), hostileString)).map(positionText),
  jsonText.map((t) => Buffer.from(t).toString('base64url')),
  hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))),
  badPercent,
);

const queryValue = fc.oneof(
  fc.constantFrom('pending', 'shipped', '1', '20', '100', '0', '-1', '101', '1e2', '0x10', 'NaN', '', '1.5'),
  hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))),
  badPercent,
  forgedCursor,
);
const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom('status', 'limit', 'cursor', 'code', 'status'),
        fc.constantFrom('%', '%zz', '', '__proto__'),
      ),
      queryValue,
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

/** Header values: anything but CR and LF (those would only make it a different request). */
const headerValue = hostileString.map((s) => s.replace(/[\r\n]/g, ' '));
const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A JWT's three parts, each garbage or hostile JSON: `alg` none/HS256/unknown, odd `kid`s, claims of any type. */
const jwtShaped = fc
  .tuple(
    fc.oneof(
      fc.record({
        alg: fc.constantFrom('none', 'None', 'HS256', 'RS256', 'ES256', 'XX', ''),
        kid: fc.oneof(fc.constant(undefined), headerValue, fc.integer()),
        typ: fc.constantFrom('JWT', 'at+jwt', undefined),
      }),
      fc.jsonValue(),
    ),
    fc.oneof(fc.jsonValue(), fc.record({ sub: fc.jsonValue(), exp: fc.jsonValue(), aud: fc.jsonValue() })),
    fc.oneof(fc.constant(''), fc.base64String({ maxLength: 64 }), headerValue),
  )
  .map(([header, payload, signature]) => `${b64json(header)}.${b64json(payload)}.${signature}`);

/** What a hostile client puts in Authorization: other schemes, bare or doubled Bearer, JWT-shaped garbage. */
export const authorizationValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    'Bearer',
    'Bearer ',
    'bearer  x',
    'Basic dXNlcjpwYXNz',
    'Bearer a.b.c',
    'Bearer ...',
    'Bearer ==',
  ),
  jwtShaped.map((t) => `Bearer ${t}`),
  headerValue.map((v) => `Bearer ${v}`),
  fc.tuple(jwtShaped, jwtShaped).map(([a, b]) => `Bearer ${a}, Bearer ${b}`),
  fc.integer({ min: 1000, max: 20_000 }).map((n) => `Bearer ${'e'.repeat(n)}.e.e`),
  headerValue,
);

/** What a hostile client puts in App Service's principal header (App Service strips it; the app must not care). */
const principalValue: fc.Arbitrary<string> = fc.oneof(
  headerValue,
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64')),
  fc.base64String({ maxLength: 64 }),
);

const headerEntry: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(fc.constantFrom('Authorization', 'authorization'), authorizationValue),
  fc.tuple(fc.constant('X-MS-CLIENT-PRINCIPAL'), principalValue),
  fc.tuple(
    fc.constantFrom('Idempotency-Key', 'idempotency-key'),
    fc.oneof(fc.uuid(), fc.constantFrom('k', 'a b', ''), headerValue),
  ),
  fc.tuple(
    fc.constant('Prefer'),
    fc.oneof(
      fc.constantFrom(
        'wait=0',
        'wait=1',
        'wait=-1',
        'wait=99999999999999999999',
        'wait="1"',
        'respond-async, wait=1',
        'wait',
      ),
      headerValue,
    ),
  ),
  fc.tuple(
    fc.constant('Content-Type'),
    fc.oneof(
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'application/problem+json',
        'text/plain',
        'application/x-www-form-urlencoded',
        '',
      ),
      headerValue,
    ),
  ),
  fc.tuple(
    fc.constant('traceparent'),
    fc.oneof(
      fc.constantFrom(
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        '00-00000000000000000000000000000000-0000000000000000-00',
        'ff-x',
      ),
      headerValue,
    ),
  ),
  fc.tuple(
    fc.constant('tracestate'),
    fc.oneof(
      fc.constantFrom('a=1', `a=${'x'.repeat(600)}`, 'a=1,,,b=2', '=', Array(40).fill('k=v').join(',')),
      headerValue,
    ),
  ),
  fc.tuple(
    fc.constant('Host'),
    fc.constantFrom('localhost', 'a b', '[::', 'x:99999', 'user@host', 'h/p', ''),
  ),
  fc.tuple(fc.constant('Expect'), fc.constantFrom('100-continue', 'nothing')),
  fc.tuple(fc.constant('Upgrade'), fc.constantFrom('websocket', 'h2c', 'HTTP/2.0')),
  fc.tuple(fc.constant('Connection'), fc.constantFrom('upgrade', 'keep-alive', 'close, upgrade')),
  fc.tuple(fc.constantFrom('Accept', 'Content-Encoding', 'Cookie', 'X-Forwarded-For', 'Origin'), headerValue),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), headerValue),
  fc.tuple(fc.constantFrom('Bad Header', 'X:Y', 'Ä'), fc.constant('x')),
  fc.tuple(
    fc.constant('X-Long'),
    fc.integer({ min: 100, max: 20_000 }).map((n) => 'y'.repeat(n)),
  ),
);
const headerList = fc.array(headerEntry, { maxLength: 4 });

const oddMethod = fc.oneof(
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'),
  fc.constantFrom('PROPFIND', 'M-SEARCH', 'QUERY', 'PURGE', 'FOO', 'get', 'post', 'G\u00c9T', 'GET /x', ''),
  fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,12}$/),
);

export interface HostileRequest extends RawRequest {
  /** The function the request was aimed at (its method and route), for the oracle. */
  aimedAt: string;
}

const bodyFor: Record<string, fc.Arbitrary<Buffer>> = {
  createOrder: orderBody,
  restockInventory: restockBody,
  putChaos: chaosBody,
};

/**
 * A request aimed at one function: usually its own method with a JSON content type and a mutated body, but any
 * method, path parameter, query string and headers may be hostile.
 */
export function requestFor(fn: HttpFunctionSpec): fc.Arbitrary<HostileRequest> {
  const jsonType: [string, string] = ['Content-Type', 'application/json'];
  return fc
    .record({
      method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...fn.methods) }, oddMethod),
      path: routePath(fn.route),
      query: fc.oneof({ weight: 2, arbitrary: fc.constant('') }, queryString),
      headers: fc.oneof(
        { weight: 2, arbitrary: fc.constant([jsonType]) },
        headerList.map((h) => [jsonType, ...h]),
      ),
      body: fc.oneof(
        { weight: 4, arbitrary: bodyFor[fn.name] ?? fc.constant(Buffer.alloc(0)) },
        jsonText.map((t) => Buffer.from(t)),
        notJson,
      ),
    })
    .map(({ method, path, query, headers, body }) => {
      const hostEntry = headers.find(([name]) => name === 'Host');
      return {
        aimedAt: fn.name,
        method,
        target: `${path}${query}`,
        headers: headers.filter(([name]) => name !== 'Host'),
        ...(hostEntry ? { host: hostEntry[1] } : {}),
        body,
      };
    });
}

/**
 * Operator (function-level) routes want the function key, as in Azure: most requests aimed at one carry `key`,
 * some none or a wrong one (a 401 problem document, and no effect).
 */
export function keyed(
  fn: HttpFunctionSpec,
  arb: fc.Arbitrary<HostileRequest>,
  key: string,
): fc.Arbitrary<HostileRequest> {
  if (fn.authLevel !== 'function') return arb;
  return fc
    .tuple(arb, fc.constantFrom('key', 'key', 'key', 'key', 'none', 'wrong'))
    .map(([request, which]) =>
      which === 'none'
        ? request
        : {
            ...request,
            headers: [...request.headers, ['x-functions-key', which === 'key' ? key : 'not-the-key']],
          },
    );
}

/** Requests aimed at nothing in particular: any method, any path under or outside /api, odd versions. */
export const unroutedRequest: fc.Arbitrary<HostileRequest> = fc
  .record({
    method: oddMethod,
    target: fc.oneof(
      fc.constantFrom(
        '/',
        '/api',
        '/api/',
        '/api/nope',
        '/api/orders/',
        '/API/ORDERS',
        '//api/orders',
        '/api//orders',
        '*',
        'example.com:443',
        'http://localhost/api/health',
        '/api/orders/../health',
        '/api/%2e%2e/health',
        '/%',
        '/api/ui?%',
      ),
      hostileString.map((s) => `/api/${encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))}`),
      hostileString.map((s) => `/${s.replace(/[\s\ud800-\udfff]/g, '')}`),
    ),
    version: fc.constantFrom('1.1', '1.1', '1.0', '2.0', '0.9', '1.x'),
    headers: headerList,
  })
  .map((r) => ({ aimedAt: 'none', ...r }));
