import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import type { HttpHandler } from '../definitions.js';

export const UI_FILE = join(PROJECT_ROOT, 'functions', 'platform', 'ui', 'index.html');

/** GET /api/ui: the one-page dashboard (plain HTML, no build step), read once per instance. */
export function uiHandler(): HttpHandler {
  let page: Promise<string> | undefined;
  return async () => {
    page ??= readFile(UI_FILE, 'utf8');
    return {
      status: 200,
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-cache',
        'Content-Security-Policy':
          "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'",
      },
      body: await page,
    };
  };
}
