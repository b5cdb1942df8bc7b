import { STATUS_CODES } from 'node:http';
import type { HttpResponseInit } from '@azure/functions';
import { invalidField, notFound, problem } from '../../shared/http/problem.js';
import type { RouteLookup } from './router.js';

/**
 * What the local host answers for requests it does not hand to a function, as the Functions host would: always a
 * problem+json document, never a dropped connection — 400 for a request it cannot read, 404 for no such route,
 * 405 with `Allow` for a method the route does not serve (unknown methods included).
 */

export type Target = { ok: true; url: URL } | { ok: false; response: HttpResponseInit };

const badRequest = (detail: string) => problem(400, 'Bad Request', detail, { type: 'bad-request' });

/**
 * The request's URL from its target and Host header. The path is taken literally (never resolved against the
 * Host, so `//x/y` stays a path), the Host must be a host, and HTTP/1.1 requires one (RFC 9112 §3.2).
 */
export function requestTarget(rawTarget: string, host: string | undefined, httpVersion: string): Target {
  if (host === undefined && httpVersion === '1.1') {
    return { ok: false, response: badRequest('HTTP/1.1 requests need a Host header (RFC 9112).') };
  }
  let origin: URL;
  try {
    origin = new URL(`http://${host ?? 'localhost'}`);
  } catch {
    return { ok: false, response: badRequest('The Host header is not a valid host[:port].') };
  }
  if (origin.pathname !== '/' || origin.username || origin.password || origin.search || origin.hash) {
    return { ok: false, response: badRequest('The Host header is not a valid host[:port].') };
  }
  try {
    if (rawTarget.startsWith('/')) return { ok: true, url: new URL(`${origin.origin}${rawTarget}`) };
    // Absolute form (`GET http://host/api/orders`), which servers must accept (RFC 9112 §3.2.2).
    if (/^https?:\/\//i.test(rawTarget)) return { ok: true, url: new URL(rawTarget) };
  } catch {
    // fall through: not a URL
  }
  return {
    ok: false,
    response: badRequest(`The request target "${rawTarget}" is not a path; request /api/… (try /api/ui).`),
  };
}

/** 404, 405 or 400 for a lookup that found no function to run. */
export function unroutedResponse(
  lookup: Exclude<RouteLookup, { kind: 'match' }>,
  method: string,
  path: string,
): HttpResponseInit {
  switch (lookup.kind) {
    case 'not-found':
      return notFound(`No function serves ${path}; the API lives under /api (try /api/ui).`);
    case 'method-not-allowed': {
      const allow = lookup.allow.join(', ');
      return problem(405, 'Method Not Allowed', `${method} is not supported on ${path}; use ${allow}.`, {
        type: 'method-not-allowed',
        headers: { Allow: allow },
      });
    }
    case 'undecodable':
      return invalidField(
        'Bad Request',
        `The path segment "${lookup.segment}" (${lookup.param}) is not valid percent-encoded UTF-8.`,
        lookup.param,
        'is not valid percent-encoded UTF-8',
      );
  }
}

/**
 * 405 (or 404) for a method no function can serve: one Node's parser does not know, or CONNECT. Methods are
 * case-sensitive (RFC 9110), so a `get` the router would match still answers 405 with `Allow: GET`.
 */
export function unservedMethodResponse(
  method: string,
  path: string,
  lookup: (method: string, path: string) => RouteLookup,
): HttpResponseInit {
  const found = lookup(method, path);
  return found.kind === 'match'
    ? unroutedResponse({ kind: 'method-not-allowed', allow: found.match.fn.methods }, method, path)
    : unroutedResponse(found, method, path);
}

/** RFC 9110 `token`: what a method name may be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The answer to a request Node's HTTP parser refused. The parser knows a fixed list of methods, so a request
 * with any other well-formed method arrives here; its request line is still in the raw packet, so it gets the
 * same 404/405 as a known method would (`lookup` finds the route).
 */
export function clientErrorResponse(
  err: NodeJS.ErrnoException & { rawPacket?: Buffer },
  lookup: (method: string, path: string) => RouteLookup,
): HttpResponseInit {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return problem(
        431,
        'Request Header Fields Too Large',
        'The request headers are too large (16 KiB at most).',
        {
          type: 'headers-too-large',
        },
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return problem(408, 'Request Timeout', 'The request did not arrive in time; send it again.', {
        type: 'timeout',
      });
    case 'HPE_INVALID_METHOD': {
      const [method = '', target = ''] = (err.rawPacket?.toString('latin1').split('\r\n', 1)[0] ?? '').split(
        ' ',
      );
      if (TOKEN.test(method) && target.startsWith('/')) {
        return unservedMethodResponse(method, target.split('?', 1)[0]!, lookup);
      }
      return badRequest('The request line is not "METHOD /path HTTP/1.1" with a valid method name.');
    }
    default:
      return badRequest(
        `The request is not valid HTTP/1.1 (${err.code ?? 'unreadable'}); check its request line and headers.`,
      );
  }
}

/** A response written straight to a socket that Node's HTTP server will not write to (parser errors, CONNECT). */
export function rawResponse(init: HttpResponseInit): string {
  const body = typeof init.body === 'string' ? init.body : '';
  const status = init.status ?? 500;
  const headers = Object.entries((init.headers ?? {}) as Record<string, string>).map(
    ([k, v]) => `${k}: ${v}\r\n`,
  );
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${headers.join('')}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
