import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';
import { notFound } from '../../shared/http/problem.js';
import type { HttpHandler } from '../definitions.js';

const UI_DIR = join(PROJECT_ROOT, 'functions', 'platform', 'ui');
const UI_FILE = join(UI_DIR, 'index.html');

/**
 * The page may load only its own files and call only this origin; no inline script or style, no framing (it has
 * operator controls: clickjacking is the risk), no plugins, no <base> rewriting, forms post only here.
 */
const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The page's own files: GET /api/ui/{asset} serves these and nothing else (no path ever reaches the disk). Every
 * module the page's scripts import is listed too (test/e2e/access.e2e.test.ts follows the imports).
 */
const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'common.js': 'text/javascript; charset=utf-8',
  'operator-key.js': 'text/javascript; charset=utf-8',
  'order-form.js': 'text/javascript; charset=utf-8',
  'orders-table.js': 'text/javascript; charset=utf-8',
  'stock.js': 'text/javascript; charset=utf-8',
  'health.js': 'text/javascript; charset=utf-8',
  'stats.js': 'text/javascript; charset=utf-8',
  'chaos.js': 'text/javascript; charset=utf-8',
  'latency-chart.js': 'text/javascript; charset=utf-8',
  'order-follow.js': 'text/javascript; charset=utf-8',
  'dead-letters.js': 'text/javascript; charset=utf-8',
  'order-detail.js': 'text/javascript; charset=utf-8',
  'customer-sign-in.js': 'text/javascript; charset=utf-8',
};

function cachedFile(path: string): () => Promise<string> {
  let content: Promise<string> | undefined;
  return () => {
    content ??= readFile(path, 'utf8');
    return content;
  };
}

const pageHeaders = (contentType: string) => ({
  'Content-Type': contentType,
  'Cache-Control': 'no-cache',
  'Content-Security-Policy': UI_CONTENT_SECURITY_POLICY,
  // For browsers that predate frame-ancestors.
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
});

/** GET /api/ui: the one-page dashboard (plain HTML, no build step), read once per instance. */
export function uiHandler(): HttpHandler {
  const page = cachedFile(UI_FILE);
  return async () => ({ status: 200, headers: pageHeaders('text/html; charset=utf-8'), body: await page() });
}

/** GET /api/ui/{asset}: the page's ES modules and its styles (ASSETS). */
export function uiAssetHandler(): HttpHandler {
  const files = new Map(Object.keys(ASSETS).map((name) => [name, cachedFile(join(UI_DIR, name))]));
  return async (request) => {
    const name = request.params.asset ?? '';
    const file = Object.hasOwn(ASSETS, name) ? files.get(name) : undefined;
    if (!file) return notFound(`The page has no file "${name}"; it loads ${Object.keys(ASSETS).join(', ')}.`);
    return { status: 200, headers: pageHeaders(ASSETS[name]!), body: await file() };
  };
}
