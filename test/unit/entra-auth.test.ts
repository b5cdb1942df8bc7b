import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRuntime } from '../../functions/runtime.js';
import { loadSettings, SettingsError } from '../../shared/config/settings.js';
import {
  entraPasswordProvider,
  managedIdentityCredential,
  POSTGRES_TOKEN_SCOPE,
  type TokenSource,
} from '../../shared/db/entra-auth.js';
import { createPool } from '../../shared/db/pool.js';

// The Entra token path for `pg`: an access token from a (fake) credential is the password, cached while valid,
// refreshed 5 minutes before expiry, fetched once for concurrent connections. The wiring is checked against a
// fake PostgreSQL server that asks for a cleartext password and records what it receives.

const fakes = vi.hoisted(() => ({ credential: undefined as TokenSource | undefined }));
vi.mock('../../shared/db/entra-auth.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../shared/db/entra-auth.js')>();
  return {
    ...original,
    managedIdentityCredential: vi.fn(async () => {
      if (!fakes.credential) throw new Error('test: no fake credential');
      return fakes.credential;
    }),
  };
});

const MINUTE = 60_000;

/** A credential that hands out token-1, token-2, … each valid for `lifetimeMs` from the fake clock. */
function fakeCredential(clock: { now: number }, lifetimeMs = 60 * MINUTE) {
  let issued = 0;
  const scopes: string[] = [];
  const credential: TokenSource = {
    getToken: vi.fn(async (scope: string) => {
      scopes.push(scope);
      issued++;
      return { token: `token-${issued}`, expiresOnTimestamp: clock.now + lifetimeMs };
    }),
  };
  return { credential, scopes, issued: () => issued };
}

describe('entraPasswordProvider', () => {
  it('returns the access token for the PostgreSQL scope as the password', async () => {
    const clock = { now: 1_000_000 };
    const fake = fakeCredential(clock);
    const password = entraPasswordProvider(fake.credential, () => clock.now);
    expect(await password()).toBe('token-1');
    expect(fake.scopes).toEqual([POSTGRES_TOKEN_SCOPE]);
    expect(POSTGRES_TOKEN_SCOPE).toBe('https://ossrdbms-aad.database.windows.net/.default');
  });

  it('caches the token while it is valid for more than 5 minutes', async () => {
    const clock = { now: 0 };
    const fake = fakeCredential(clock, 60 * MINUTE);
    const password = entraPasswordProvider(fake.credential, () => clock.now);
    expect(await password()).toBe('token-1');
    clock.now = 30 * MINUTE;
    expect(await password()).toBe('token-1');
    clock.now = 55 * MINUTE - 1; // 5 minutes and 1 ms before expiry
    expect(await password()).toBe('token-1');
    expect(fake.issued()).toBe(1);
  });

  it('fetches a new token once within 5 minutes of expiry, then caches that one', async () => {
    const clock = { now: 0 };
    const fake = fakeCredential(clock, 60 * MINUTE);
    const password = entraPasswordProvider(fake.credential, () => clock.now);
    expect(await password()).toBe('token-1');
    clock.now = 55 * MINUTE; // exactly 5 minutes before expiry
    expect(await password()).toBe('token-2');
    clock.now = 56 * MINUTE;
    expect(await password()).toBe('token-2');
    clock.now = 200 * MINUTE; // long after expiry
    expect(await password()).toBe('token-3');
    expect(fake.issued()).toBe(3);
  });

  it('shares one fetch between concurrent callers', async () => {
    let release: (() => void) | undefined;
    const getToken = vi.fn(
      () =>
        new Promise<{ token: string; expiresOnTimestamp: number }>((resolve) => {
          release = () => resolve({ token: 'shared-token', expiresOnTimestamp: 3_600_000 });
        }),
    );
    const password = entraPasswordProvider({ getToken }, () => 0);
    const calls = [password(), password(), password()];
    expect(getToken).toHaveBeenCalledTimes(1);
    release?.();
    expect(await Promise.all(calls)).toEqual(['shared-token', 'shared-token', 'shared-token']);
    expect(await password()).toBe('shared-token');
    expect(getToken).toHaveBeenCalledTimes(1);
  });

  it('fails clearly when the credential returns no token, and tries again on the next call', async () => {
    const getToken = vi
      .fn<TokenSource['getToken']>()
      .mockResolvedValueOnce(null)
      .mockResolvedValueOnce({ token: 'late-token', expiresOnTimestamp: 3_600_000 });
    const password = entraPasswordProvider({ getToken }, () => 0);
    await expect(password()).rejects.toThrow(
      /no Entra token for PostgreSQL: is the managed identity assigned/,
    );
    expect(await password()).toBe('late-token');
  });

  it('passes a credential failure through and tries again on the next call', async () => {
    const getToken = vi
      .fn<TokenSource['getToken']>()
      .mockRejectedValueOnce(new Error('ManagedIdentityCredential: no endpoint'))
      .mockResolvedValueOnce({ token: 'second-try', expiresOnTimestamp: 3_600_000 });
    const password = entraPasswordProvider({ getToken }, () => 0);
    await expect(password()).rejects.toThrow(/no endpoint/);
    expect(await password()).toBe('second-try');
  });
});

/**
 * Just enough of the PostgreSQL wire protocol: read the startup message, ask for a cleartext password, record it,
 * then refuse the login with SQLSTATE 28P01 (so no further protocol is needed).
 */
function startFakePostgres(): Promise<{
  server: Server;
  port: number;
  logins: { user: string; password: string }[];
}> {
  const logins: { user: string; password: string }[] = [];
  const server = createServer((socket: Socket) => {
    let buffer = Buffer.alloc(0);
    let user = '';
    let started = false;
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!started) {
        if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
        const length = buffer.readInt32BE(0);
        const fields = buffer
          .subarray(8, length - 1)
          .toString('utf8')
          .split('\0');
        user = fields[fields.indexOf('user') + 1] ?? '';
        buffer = buffer.subarray(length);
        started = true;
        const ask = Buffer.alloc(9);
        ask.write('R', 0);
        ask.writeInt32BE(8, 1);
        ask.writeInt32BE(3, 5); // AuthenticationCleartextPassword
        socket.write(ask);
      }
      if (buffer.length < 5 || buffer.length < 1 + buffer.readInt32BE(1)) return;
      if (buffer.toString('utf8', 0, 1) !== 'p') return socket.destroy();
      const length = buffer.readInt32BE(1);
      logins.push({ user, password: buffer.toString('utf8', 5, 1 + length - 1) });
      const body = Buffer.from('SFATAL\0VFATAL\0C28P01\0Mfake server: password recorded\0\0', 'utf8');
      const error = Buffer.alloc(5);
      error.write('E', 0);
      error.writeInt32BE(4 + body.length, 1);
      socket.end(Buffer.concat([error, body]));
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, logins });
    });
  });
}

// pg merges fields parsed from `connectionString` over the config (an absent password included), so createPool
// must pass the token provider past it: these tests hold it to that.
describe('pg with an Entra token as the password', () => {
  let fake: Awaited<ReturnType<typeof startFakePostgres>>;
  beforeAll(async () => {
    fake = await startFakePostgres();
  });
  beforeEach(() => {
    fake.logins.length = 0;
  });
  afterAll(async () => {
    await new Promise((resolve) => fake.server.close(resolve));
  });

  it('sends the current token on each new connection and a refreshed one after expiry', async () => {
    const clock = { now: 0 };
    const credential = fakeCredential(clock, 60 * MINUTE);
    const pool = createPool({
      connectionString: `postgres://id-valerix@127.0.0.1:${fake.port}/valerix`,
      max: 2,
      connectionTimeoutMs: 5000,
      password: entraPasswordProvider(credential.credential, () => clock.now),
    });
    try {
      await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
      await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
      clock.now = 58 * MINUTE;
      await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    } finally {
      await pool.end();
    }
    expect(fake.logins).toEqual([
      { user: 'id-valerix', password: 'token-1' },
      { user: 'id-valerix', password: 'token-1' },
      { user: 'id-valerix', password: 'token-2' },
    ]);
  });

  it('createRuntime wires the managed identity credential when DATABASE_AUTH=entra', async () => {
    const clock = { now: Date.now() };
    fakes.credential = fakeCredential(clock).credential;
    const settings = loadSettings({
      DATABASE_URL: `postgres://id-valerix@127.0.0.1:${fake.port}/valerix`,
      DATABASE_AUTH: 'entra',
      AZURE_CLIENT_ID: '00000000-0000-0000-0000-00000000c1d0',
    });
    const runtime = createRuntime(settings);
    try {
      await expect(runtime.db.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    } finally {
      await runtime.close();
    }
    expect(managedIdentityCredential).toHaveBeenCalledWith('00000000-0000-0000-0000-00000000c1d0');
    expect(fake.logins).toEqual([{ user: 'id-valerix', password: 'token-1' }]);
  });

  it('password auth sends no token', async () => {
    vi.mocked(managedIdentityCredential).mockClear();
    const runtime = createRuntime(
      loadSettings({ DATABASE_URL: `postgres://app:secret@127.0.0.1:${fake.port}/valerix` }),
    );
    try {
      await expect(runtime.db.query('SELECT 1')).rejects.toMatchObject({ code: '28P01' });
    } finally {
      await runtime.close();
    }
    expect(managedIdentityCredential).not.toHaveBeenCalled();
    expect(fake.logins).toEqual([{ user: 'app', password: 'secret' }]);
  });
});

describe('settings', () => {
  it('refuse DATABASE_AUTH=entra without DATABASE_URL', () => {
    expect(() => loadSettings({ DATABASE_AUTH: 'entra' })).toThrow(SettingsError);
    expect(() => loadSettings({ DATABASE_AUTH: 'entra' })).toThrow(
      /DATABASE_URL: required when DATABASE_AUTH=entra/,
    );
  });

  it('refuse an unknown DATABASE_AUTH', () => {
    expect(() => loadSettings({ DATABASE_AUTH: 'kerberos', DATABASE_URL: 'postgres://h/db' })).toThrow(
      /DATABASE_AUTH/,
    );
  });
});
