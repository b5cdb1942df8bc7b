import { z } from 'zod';

/**
 * Control characters (Unicode Cc: C0, DEL, C1) and lone surrogates (Cs, not well-formed UTF-16). PostgreSQL
 * refuses NUL in text and jsonb, a lone surrogate becomes U+FFFD on the way in, and none of them has any place in
 * an identifier: refusing them at the boundary turns what would be a database error into a 400 naming the field.
 */
const UNSAFE_CHARACTER = /[\p{Cc}\p{Cs}]/u;

const CONTROL_CHARACTER_MESSAGE = 'must not contain control characters (NUL, newline, tab, …)';

/** A string with no control characters or lone surrogates. */
export function plainText() {
  return z
    .string({ error: 'must be a string' })
    .refine((value) => !UNSAFE_CHARACTER.test(value), CONTROL_CHARACTER_MESSAGE);
}

/** An identifier-like text field: trimmed, non-empty, at most `max` characters, no control characters. */
export function identifierText(max: number) {
  return plainText().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
}
