import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import type { Settings } from '../shared/config/settings.js';
import type { QueueName } from '../shared/messaging/queue-names.js';
import type { Runtime } from './runtime.js';

/**
 * One table of functions, two hosts: `functions/index.ts` registers it with `app.*` for the Azure Functions
 * host, and the local host mounts the very same table. Nothing about a route or a trigger is written twice.
 *
 * An entry of the table (a `FunctionSpec`) is what a host needs to register the function — name, route or
 * queue or schedule — plus `load`, which imports the handler's code. The table itself imports nothing heavy, so
 * registering every function costs next to nothing at cold start; a handler's modules (zod, pg, cockatiel,
 * telemetry, …) load on its first invocation.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export type HttpHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
export type QueueHandler = (message: unknown, context: InvocationContext) => Promise<void>;
export type TimerHandler = (timer: Timer, context: InvocationContext) => Promise<void>;

/** Imports a function's code and returns how to build its handler for a runtime. */
export type HandlerLoader<H> = () => Promise<(rt: Runtime) => H>;

export interface HttpFunctionSpec {
  kind: 'http';
  name: string;
  /** Route template relative to /api, in Azure's syntax: `orders/{id}`. */
  route: string;
  methods: HttpMethod[];
  /**
   * `function` routes are operator routes: they need a function key (`x-functions-key` header or `code` query
   * parameter), checked by the Functions host in Azure and by the local host (infra/local-host/function-keys.ts)
   * before the handler runs.
   */
  authLevel: 'anonymous' | 'function';
  load: HandlerLoader<HttpHandler>;
}

export interface QueueFunctionSpec {
  kind: 'serviceBusQueue';
  name: string;
  queueName: QueueName;
  load: HandlerLoader<QueueHandler>;
}

export interface TimerFunctionSpec {
  kind: 'timer';
  name: string;
  /** NCRONTAB schedule for Azure (six fields, seconds first). */
  schedule: string;
  /** How often the local host runs it instead. */
  localIntervalMs: (settings: Settings) => number;
  load: HandlerLoader<TimerHandler>;
}

export type FunctionSpec = HttpFunctionSpec | QueueFunctionSpec | TimerFunctionSpec;

/** A function bound to a runtime, its code loaded: what the local host mounts and tests invoke. */
export interface HttpFunctionDefinition extends Omit<HttpFunctionSpec, 'load'> {
  handler: HttpHandler;
}

export interface QueueFunctionDefinition extends Omit<QueueFunctionSpec, 'load'> {
  handler: QueueHandler;
}

export interface TimerFunctionDefinition extends Omit<TimerFunctionSpec, 'load' | 'localIntervalMs'> {
  localIntervalMs: number;
  handler: TimerHandler;
}

export type FunctionDefinition = HttpFunctionDefinition | QueueFunctionDefinition | TimerFunctionDefinition;

/** The app setting that holds the Service Bus connection (string, or `__fullyQualifiedNamespace` for identity). */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';
