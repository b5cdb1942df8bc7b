import type { HttpResponseInit } from '@azure/functions';
import type {
  FunctionDefinition,
  HttpFunctionDefinition,
  QueueFunctionDefinition,
} from '../../functions/definitions.js';
import { HttpRequest, HttpResponse, InvocationContext } from '../../shared/http/azure-functions.js';
import { checkAgainstOpenApi } from './openapi-contract.js';

export function httpFunction(functions: FunctionDefinition[], name: string): HttpFunctionDefinition {
  const fn = functions.find((f) => f.name === name);
  if (fn?.kind !== 'http') throw new Error(`no HTTP function ${name}`);
  return fn;
}

export function queueFunction(functions: FunctionDefinition[], name: string): QueueFunctionDefinition {
  const fn = functions.find((f) => f.name === name);
  if (fn?.kind !== 'serviceBusQueue') throw new Error(`no queue function ${name}`);
  return fn;
}

export interface InvokeInit {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: string | Uint8Array;
  json?: unknown;
}

export interface InvokeResult {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON response bodies
  body: any;
}

/** Calls an HTTP handler in-process, exactly as the Functions host would, and reads the response back. */
export async function invokeHttp(fn: HttpFunctionDefinition, init: InvokeInit = {}): Promise<InvokeResult> {
  const headers = { ...init.headers };
  let body: { string?: string; bytes?: Uint8Array } | undefined;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = { string: JSON.stringify(init.json) };
  } else if (typeof init.body === 'string') body = { string: init.body };
  else if (init.body) body = { bytes: init.body };
  const request = new HttpRequest({
    method: init.method ?? fn.methods[0] ?? 'GET',
    url: `http://localhost:7071${init.path ?? `/api/${fn.route}`}`,
    headers,
    params: init.params ?? {},
    query: init.query ?? {},
    ...(body ? { body } : {}),
  });
  const context = new InvocationContext({ functionName: fn.name, logHandler: () => {} });
  const response: HttpResponseInit = await fn.handler(request, context);
  const res = new HttpResponse(response);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  checkAgainstOpenApi(fn, request.method, res.status, res.headers.get('content-type'), parsed);
  return { status: res.status, headers: res.headers, text, body: parsed };
}

export function queueContext(
  functionName: string,
  metadata: { messageId?: string; deliveryCount?: number } = {},
) {
  return new InvocationContext({
    functionName,
    logHandler: () => {},
    triggerMetadata: { deliveryCount: 1, ...metadata },
  });
}
