import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import type { QueueName } from '../shared/messaging/contracts.js';

/**
 * One table of functions, two hosts: `functions/index.ts` registers these with `app.*` for the Azure Functions
 * host, and the local host mounts the very same list. Nothing about a route or a trigger is written twice.
 */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface HttpFunctionDefinition {
  kind: 'http';
  name: string;
  /** Route template relative to /api, in Azure's syntax: `orders/{id}`. */
  route: string;
  methods: HttpMethod[];
  /** `function` routes need a function key in Azure (admin operations); the local host serves them openly. */
  authLevel: 'anonymous' | 'function';
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;
}

export interface QueueFunctionDefinition {
  kind: 'serviceBusQueue';
  name: string;
  queueName: QueueName;
  handler: (message: unknown, context: InvocationContext) => Promise<void>;
}

export interface TimerFunctionDefinition {
  kind: 'timer';
  name: string;
  /** NCRONTAB schedule for Azure (six fields, seconds first). */
  schedule: string;
  /** How often the local host runs it instead. */
  localIntervalMs: number;
  handler: (timer: Timer, context: InvocationContext) => Promise<void>;
}

export type FunctionDefinition = HttpFunctionDefinition | QueueFunctionDefinition | TimerFunctionDefinition;

/** The app setting that holds the Service Bus connection (string, or `__fullyQualifiedNamespace` for identity). */
export const SERVICE_BUS_CONNECTION = 'ServiceBusConnection';
