import { randomUUID } from 'node:crypto';
import type {
  InvocationContext as InvocationContextType,
  LogHandler,
  TriggerMetadata,
} from '@azure/functions';
import { InvocationContext } from '../../shared/http/azure-functions.js';
import { newTraceparent } from '../../shared/telemetry/trace-context.js';

export type LocalLog = (level: string, functionName: string, message: string) => void;

export const consoleLog: LocalLog = (level, functionName, message) => {
  const line = `[${new Date().toISOString()}] ${level.padEnd(11)} ${functionName}: ${message}`;
  if (level === 'error' || level === 'warning') console.error(line);
  else console.log(line);
};

export const silentLog: LocalLog = () => {};

/** What the Functions host would hand a function: an invocation id, a logger, trace context, trigger metadata. */
export function localInvocationContext(
  functionName: string,
  log: LocalLog,
  trace: { traceparent?: string | undefined; tracestate?: string | undefined } = {},
  triggerMetadata?: TriggerMetadata,
): InvocationContextType {
  const logHandler: LogHandler = (level, ...args) =>
    log(level, functionName, args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  return new InvocationContext({
    invocationId: randomUUID(),
    functionName,
    logHandler,
    traceContext: { traceParent: trace.traceparent ?? newTraceparent(), traceState: trace.tracestate ?? '' },
    ...(triggerMetadata ? { triggerMetadata } : {}),
  });
}
