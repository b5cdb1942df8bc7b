import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpResponseInit, Timer } from '@azure/functions';
import type { FunctionDefinition, HttpFunctionDefinition } from '../../functions/definitions.js';
import { loadFunctions } from '../../functions/function-table.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../functions/runtime.js';
import type { Settings } from '../../shared/config/settings.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../shared/db/embedded.js';
import { migrate } from '../../shared/db/migrate.js';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { HttpRequest, HttpResponse } from '../../shared/http/azure-functions.js';
import { operationIdOf, unexpectedFailureResponse } from '../../shared/http/error-boundary.js';
import { problem } from '../../shared/http/problem.js';
import { InProcessTransport } from '../../shared/messaging/in-process-transport.js';
import { isTraceparent, newTraceparent, traceIdOf } from '../../shared/telemetry/trace-context.js';
import { authorize, generateFunctionKey, presentedKey } from './function-keys.js';
import { consoleLog, type LocalLog, localInvocationContext } from './invocation-context.js';
import { compileRoutes, findRoute } from './router.js';
import {
  clientErrorResponse,
  rawResponse,
  requestTarget,
  unroutedResponse,
  unservedMethodResponse,
} from './unrouted.js';

/** Node's request headers read the way HttpRequest reads them (repeated headers joined). */
function nodeHeaders(headers: IncomingMessage['headers']): { get(name: string): string | null } {
  return {
    get: (name) => {
      const value = headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** Bodies above this are refused before a handler sees them (handlers enforce their own, smaller limits). */
const MAX_READ_BYTES = 1024 * 1024;

export interface LocalHostOptions {
  settings: Settings;
  /** Port to listen on; 0 picks a free one. Defaults to settings.port. */
  port?: number;
  host?: string;
  /** Overrides DATABASE_URL (tests pass their own database). */
  databaseUrl?: string;
  /** The database URL points at an embedded (PGlite) server: use a single connection. */
  embeddedDatabase?: boolean;
  log?: LocalLog;
  /** Run the outbox relay loops (on by default). */
  timers?: boolean;
  runtime?: Omit<RuntimeOptions, 'databaseUrl'>;
  /** The key function-level routes need. Defaults to LOCAL_FUNCTION_KEY, else a generated one. */
  functionKey?: string;
}

export interface LocalHost {
  url: string;
  runtime: Runtime;
  /** The in-process broker, when no Service Bus is configured. */
  transport: InProcessTransport | undefined;
  functions: FunctionDefinition[];
  embedded: EmbeddedPostgres | undefined;
  /** What function-level routes need in `x-functions-key` (or `?code=`); Azure checks its own function keys. */
  functionKey: string;
  /** Whether `functionKey` was generated at start-up (then `npm run dev` prints it). */
  functionKeyGenerated: boolean;
  close(): Promise<void>;
}

/**
 * Serves the same function table as the Azure Functions host: HTTP functions under /api, queue functions bound
 * to the in-process transport, timers as loops. Applies migrations first.
 */
export async function startLocalHost(options: LocalHostOptions): Promise<LocalHost> {
  const log = options.log ?? consoleLog;
  const { settings } = options;
  let embedded: EmbeddedPostgres | undefined;
  let databaseUrl = options.databaseUrl ?? settings.database.url;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres(
      settings.database.embeddedDataDir ? { dataDir: settings.database.embeddedDataDir } : {},
    );
    databaseUrl = embedded.url;
  }
  // The embedded server runs one session and interleaves the protocol messages of concurrent connections
  // outside transactions, so one connection is all it can serve correctly.
  const runtime = createRuntime(settings, {
    databaseUrl,
    ...(embedded || options.embeddedDatabase ? { poolMax: 1 } : {}),
    log: (level, message) => log(level, 'runtime', message),
    ...options.runtime,
  });
  let functions: FunctionDefinition[];
  try {
    await migrate(runtime.db.pool);
    functions = await loadFunctions(runtime);
  } catch (err) {
    await runtime.close();
    await embedded?.stop();
    throw err;
  }
  const transport = runtime.publisher instanceof InProcessTransport ? runtime.publisher : undefined;
  const configuredKey = options.functionKey ?? settings.localFunctionKey;
  const functionKey = configuredKey ?? generateFunctionKey();
  const { customHeaders, routePrefix } = await hostHttpSettings();
  /** Every response, the host's own 4xx included, carries host.json's custom headers, as in Azure. */
  const send = (res: ServerResponse, init: HttpResponseInit) => sendWith(customHeaders, res, init);
  const raw = (init: HttpResponseInit) =>
    rawResponse({ ...init, headers: { ...customHeaders, ...(init.headers as Record<string, string>) } });

  if (transport) {
    for (const fn of functions) {
      if (fn.kind !== 'serviceBusQueue') continue;
      transport.subscribe(fn.queueName, (body, metadata) =>
        fn.handler(
          body,
          localInvocationContext(
            fn.name,
            log,
            { traceparent: continueTrace(body.traceparent) },
            { ...metadata },
          ),
        ),
      );
    }
  }

  const stopTimers = options.timers === false ? () => Promise.resolve() : startTimers(functions, log);
  const routes = compileRoutes(
    functions.filter((f): f is HttpFunctionDefinition => f.kind === 'http'),
    routePrefix,
  );
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let draining: (() => void) | undefined;

  const lookup = (method: string, path: string) => findRoute(routes, method, path);
  /** A failure of the host's own code (not a handler's: those have their own boundary). */
  const hostFailure = (err: unknown) =>
    unexpectedFailureResponse(err, {
      where: 'local-host',
      operationId: operationIdOf({}),
      log: (level, message) => log(level, 'local-host', message),
      counter: runtime.signals,
    });

  // The Host header is checked by `requestTarget`, which answers with a problem document instead of a bare 400.
  const server: Server = createServer({ requireHostHeader: false }, (req, res) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      if (inFlight === 0) draining?.();
    });
    handle(req, res).catch((err) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      send(res, hostFailure(err)).catch(() => res.destroy());
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Requests Node's parser refuses (unknown methods, malformed lines or headers) get a problem document too.
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(raw(clientErrorResponse(err, lookup)));
  });
  // Without a listener Node closes CONNECT connections unanswered; no function serves CONNECT.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const target = requestTarget(req.url ?? '', 'localhost', req.httpVersion);
    socket.end(
      raw(target.ok ? unservedMethodResponse('CONNECT', target.url.pathname, lookup) : target.response),
    );
  });
  // Node's own answer to an `Expect` other than 100-continue is a bare 417.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const response = problem(
      417,
      'Expectation Failed',
      `Expect: ${req.headers.expect} is not supported; only "Expect: 100-continue" is.`,
      { type: 'expectation-failed', headers: { Connection: 'close' } },
    );
    send(res, response).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const target = requestTarget(req.url ?? '/', req.headers.host, req.httpVersion);
    if (!target.ok) return send(res, target.response);
    const { url } = target;
    const found = lookup(method, url.pathname);
    if (found.kind !== 'match') return send(res, unroutedResponse(found, method, url.pathname));
    const { fn, params } = found.match;
    // Before the body is read, as the Functions host does: a caller without the key costs no upload.
    let refused = authorize(fn, functionKey, presentedKey(req.headers, url.searchParams));
    if (refused) {
      // CUSTOMER_AUTH=jwt: a token with the operator role stands in for the key; a bad one says why.
      const token = await runtime.customerAuth.operatorToken({ headers: nodeHeaders(req.headers) });
      if (token) refused = token.ok ? undefined : token.response;
    }
    if (refused) return send(res, refused);
    const body = await readBody(req);
    if (body === 'aborted') return; // the client went away: nobody to answer
    if (body === 'too-large') {
      const tooLarge = problem(
        413,
        'Content Too Large',
        `The body must be at most ${MAX_READ_BYTES} bytes.`,
        {
          type: 'too-large',
          headers: { Connection: 'close' },
        },
      );
      return send(res, tooLarge);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      params,
      query: Object.fromEntries(url.searchParams.entries()),
      // GET and HEAD bodies are discarded, as the Functions host does (HttpRequest would warn about each).
      ...(body.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body: { bytes: body } } : {}),
    });
    const context = localInvocationContext(fn.name, log, {
      traceparent: continueTrace(headers.traceparent),
      tracestate: headers.tracestate,
    });
    // The handler has its error boundary (functions/function-table.ts); what is left to fail here is the host's own code.
    return send(res, await fn.handler(request, context));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? settings.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    runtime,
    transport,
    functions,
    embedded,
    functionKey,
    functionKeyGenerated: configuredKey === undefined,
    close() {
      closing ??= (async () => {
        // Stop taking requests, let those in flight finish, then stop the background work and the pool.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) await new Promise<void>((resolve) => (draining = resolve));
        for (const socket of sockets) socket.destroy();
        await closed;
        await stopTimers();
        await runtime.close();
        await embedded?.stop();
      })();
      return closing;
    },
  };
}

/** A new span in the caller's trace (what the Functions host does for an incoming traceparent). */
function continueTrace(traceparent: string | undefined): string {
  return isTraceparent(traceparent) ? newTraceparent(traceIdOf(traceparent)) : newTraceparent();
}

async function readBody(req: IncomingMessage): Promise<Uint8Array | 'too-large' | 'aborted'> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_READ_BYTES) return 'too-large';
      chunks.push(chunk as Buffer);
    }
  } catch {
    return 'aborted';
  }
  return Buffer.concat(chunks);
}

/**
 * host.json's `extensions.http`, read from the same file the Functions host reads: its `customHeaders` go on every
 * HTTP response (its own 401s included), and its `routePrefix` is where the routes live (absent: `api`, the
 * Functions default).
 */
async function hostHttpSettings(): Promise<{ customHeaders: Record<string, string>; routePrefix: string }> {
  const hostJson = JSON.parse(await readFile(join(PROJECT_ROOT, 'host.json'), 'utf8')) as {
    extensions?: { http?: { customHeaders?: Record<string, string>; routePrefix?: string } };
  };
  const customHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(hostJson.extensions?.http?.customHeaders ?? {})) {
    customHeaders[name.toLowerCase()] = value;
  }
  return { customHeaders, routePrefix: hostJson.extensions?.http?.routePrefix ?? 'api' };
}

async function sendWith(
  customHeaders: Record<string, string>,
  res: ServerResponse,
  init: HttpResponseInit,
): Promise<void> {
  const response = new HttpResponse(init);
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string> = { ...customHeaders };
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  headers['content-length'] = String(body.length);
  res.writeHead(response.status, headers);
  res.end(body);
}

/** Runs each timer function every `localIntervalMs`, never overlapping itself. */
function startTimers(functions: FunctionDefinition[], log: LocalLog): () => Promise<void> {
  const stop = new AbortController();
  const running: Promise<void>[] = [];
  for (const fn of functions) {
    if (fn.kind !== 'timer') continue;
    running.push(
      (async () => {
        while (!stop.signal.aborted) {
          try {
            await sleep(fn.localIntervalMs, undefined, { signal: stop.signal });
          } catch {
            break;
          }
          const timer = {
            isPastDue: false,
            schedule: { adjustForDST: false },
            scheduleStatus: undefined,
          } as unknown as Timer;
          try {
            await fn.handler(timer, localInvocationContext(fn.name, log));
          } catch (err) {
            log('warning', fn.name, `run failed, next run retries: ${(err as Error).message}`);
          }
        }
      })(),
    );
  }
  return async () => {
    stop.abort();
    await Promise.all(running);
  };
}
