import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { z } from 'zod';
import { type FieldError, problem } from './problem.js';

const MAX_BODY_BYTES = 64 * 1024;

/** A request part that passed its schema, or the 4xx response that says what is wrong with it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; response: HttpResponseInit };

/** Turns zod issues into field errors a person can act on (`quantity: must be at most 1000`). */
function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => {
    const field = issue.path.join('.') || '(body)';
    if (issue.code === 'unrecognized_keys') {
      return { field: issue.keys.join(', '), message: `unknown field(s): ${issue.keys.join(', ')}` };
    }
    return { field, message: issue.message };
  });
}

function validationProblem(error: z.ZodError, what = 'The request'): HttpResponseInit {
  const errors = fieldErrors(error);
  return problem(
    400,
    'Invalid request',
    `${what} has ${errors.length} invalid field(s): ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`,
    { type: 'validation', errors },
  );
}

/** Validates a part of the request other than the body (path parameters, query string) against `schema`. */
export function parseRequestPart<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: 'The path' | 'The query string',
): Parsed<z.output<S>> {
  const result = schema.safeParse(value);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, response: validationProblem(result.error, what) };
}

function isJsonContentType(value: string | null): boolean {
  if (!value) return false;
  const mediaType = value.split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/**
 * Reads a JSON body at the boundary: 415 for a wrong content type, 413 above the size limit, 400 for
 * malformed JSON or a body the schema rejects. Never throws for anything the client sent.
 */
export async function readJsonBody<S extends z.ZodType>(
  request: HttpRequest,
  schema: S,
  maxBytes = MAX_BODY_BYTES,
): Promise<Parsed<z.output<S>>> {
  if (!isJsonContentType(request.headers.get('content-type'))) {
    return {
      ok: false,
      response: problem(
        415,
        'Unsupported Media Type',
        'Send the body as JSON with the header "Content-Type: application/json".',
        { type: 'unsupported-media-type', headers: { 'Accept-Post': 'application/json' } },
      ),
    };
  }
  const tooLarge = () => ({
    ok: false as const,
    response: problem(413, 'Content Too Large', `The body must be at most ${maxBytes} bytes.`, {
      type: 'too-large',
    }),
  });
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > maxBytes) return tooLarge();
  let bytes: ArrayBuffer;
  try {
    bytes = await request.arrayBuffer();
  } catch {
    return { ok: false, response: problem(400, 'Bad Request', 'The request body could not be read.') };
  }
  if (bytes.byteLength > maxBytes) return tooLarge();
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return {
      ok: false,
      response: problem(400, 'Malformed JSON', `The body is not valid JSON: ${(err as Error).message}.`, {
        type: 'malformed-json',
      }),
    };
  }
  const result = schema.safeParse(parsed);
  if (!result.success) return { ok: false, response: validationProblem(result.error, 'The body') };
  return { ok: true, value: result.data };
}
