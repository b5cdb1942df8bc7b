import { connect } from 'node:net';

/**
 * An HTTP/1.1 client that sends exactly the bytes it is given: methods fetch refuses (CONNECT, TRACE, `FOO`),
 * undecodable paths, duplicate and odd headers, bodies that are not what their Content-Type says. One request
 * per connection. Loopback only: it is for hostile-input tests and the probe.
 */
export interface RawRequest {
  method: string;
  /** The request target exactly as sent: `/api/orders/%E0%A4%A?x=1`. */
  target: string;
  /** Sent in order, duplicates included. A `host` entry replaces the default Host header; `null` sends none. */
  headers: [string, string][];
  host?: string | null;
  body?: Buffer | undefined;
  /** Defaults to HTTP/1.1. */
  version?: string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type RawOutcome =
  | { kind: 'response'; response: RawResponse }
  /** The connection closed or failed before a complete response arrived (`detail` says how). */
  | { kind: 'dropped'; detail: string };

export function assertLoopback(url: URL): void {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`refusing to send hostile requests to ${url.host}: loopback only`);
  }
}

/** The bytes of a request: header values are sent as UTF-8, the framing (length, close) is always correct. */
function serialize(request: RawRequest, defaultHost: string): Buffer {
  const lines = [`${request.method} ${request.target} HTTP/${request.version ?? '1.1'}`];
  if (request.host !== null) lines.push(`Host: ${request.host ?? defaultHost}`);
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  const body = request.body ?? Buffer.alloc(0);
  if (body.length > 0 || ['POST', 'PUT', 'PATCH'].includes(request.method)) {
    lines.push(`Content-Length: ${body.length}`);
  }
  lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), body]);
}

/** Parses the first final (non-1xx) response in `data`, or undefined while it is incomplete. */
function parseResponse(data: Buffer, head: boolean, ended: boolean): RawResponse | undefined {
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...headerLines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
    if (!Number.isInteger(status)) return undefined;
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      headers[name] = headers[name]
        ? `${headers[name]}, ${line.slice(colon + 1).trim()}`
        : line.slice(colon + 1).trim();
    }
    const bodyStart = end + 4;
    if (status < 200) {
      rest = rest.subarray(bodyStart);
      continue;
    }
    const length = head || status === 204 || status === 304 ? 0 : Number(headers['content-length']);
    const available = rest.length - bodyStart;
    if (Number.isInteger(length)) {
      if (available < length) return undefined;
      return { status, headers, body: rest.subarray(bodyStart, bodyStart + length).toString('utf8') };
    }
    // No length: the body runs to the end of the connection.
    return ended ? { status, headers, body: rest.subarray(bodyStart).toString('utf8') } : undefined;
  }
}

export function sendRaw(baseUrl: string, request: RawRequest, timeoutMs = 15_000): Promise<RawOutcome> {
  const url = new URL(baseUrl);
  assertLoopback(url);
  const head = request.method === 'HEAD';
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) });
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ kind: 'dropped', detail: `no response within ${timeoutMs} ms` }),
      timeoutMs,
    );
    const tryParse = (ended: boolean) => {
      const response = parseResponse(Buffer.concat(chunks), head, ended);
      if (response) finish({ kind: 'response', response });
      else if (ended)
        finish({ kind: 'dropped', detail: `connection closed after ${Buffer.concat(chunks).length} bytes` });
    };
    socket.on('connect', () => socket.write(serialize(request, url.host)));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (err) => {
      const response = parseResponse(Buffer.concat(chunks), head, true);
      finish(response ? { kind: 'response', response } : { kind: 'dropped', detail: err.message });
    });
  });
}
