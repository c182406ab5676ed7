/**
 * Substitution over HTTP from a cache served on 127.0.0.1 by the test, over HTTP/1.1, HTTP/2
 * (HTTPS) and HTTPS without HTTP/2: the download works, passing failures (500s, a connection
 * dropped or a stream reset mid-file) are retried `download-attempts` times, a server that
 * hangs is given up after `connect-timeout`, and what fails for good is an error naming the
 * path and the cache, with nothing registered.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CacheServer, TEST_CERT, type Protocol } from '../support/cacheServer.js';
import { tempDir, tsnixStore as runStore } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';

const cacheDir = fixture('binary-cache/cache-xz');
const PUBLIC_KEY = readFileSync(fixture('binary-cache/public.key'), 'utf8').trim();
const SIMPLE = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple';
const WITH_REF = '/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref';
const narOf = (hashPart: string): string => readFileSync(join(cacheDir, `${hashPart}.narinfo`), 'utf8').match(/^URL: (.*)$/m)![1]!;

function isValid(root: string, path: string): boolean {
  const db = new Database(join(root, 'nix/var/nix/db/db.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT 1 FROM ValidPaths WHERE path = ?').get(path) !== undefined;
  } finally {
    db.close();
  }
}

const PROTOCOLS: [Protocol, string][] = [
  ['http', 'HTTP/1.1'],
  ['https-h2', 'HTTPS offering HTTP/2'],
  ['https-h1', 'HTTPS with HTTP/1.1 only'],
];

for (const [protocol, title] of PROTOCOLS) describe(`substitution over ${title}`, function () {
  this.timeout(60000);
  let server: CacheServer;
  beforeEach(async () => {
    server = await CacheServer.serve(cacheDir, protocol);
  });
  afterEach(() => server.close());

  // The test certificate is trusted through NIX_SSL_CERT_FILE, as nix would take it.
  const tsnixStore = (args: string[], options: { env?: NodeJS.ProcessEnv } = {}) => runStore(args, { ...options, env: { NIX_SSL_CERT_FILE: TEST_CERT, ...options.env } });
  const realise = (root: string, extra: string[], ...paths: string[]) =>
    tsnixStore(['--store', root, '--option', 'substituters', server.url, '--option', 'trusted-public-keys', PUBLIC_KEY, ...extra, '-r', ...paths]);

  it('fetches a path and its reference', async () => {
    const root = tempDir();
    const r = await realise(root, [], WITH_REF);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isValid(root, WITH_REF) && isValid(root, SIMPLE));
    assert.ok(server.requests.includes('nix-cache-info'));
    // Over HTTP/2 every request is a stream of one connection.
    if (protocol === 'https-h2') assert.equal(server.connections, 1);
  });

  if (protocol !== 'http') {
    it('refuses a certificate that ssl-cert-file does not trust, and does not use the cache', async () => {
      const root = tempDir();
      const r = await realise(root, ['--option', 'ssl-cert-file', fixture('tls/other-cert.pem'), '--option', 'download-attempts', '1'], SIMPLE);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not using substituter 'https:\/\/127\.0\.0\.1:\d+\/cache-[\d-]+'/);
      assert.equal(isValid(root, SIMPLE), false);
    });
  }

  it('follows redirects, to another server too', async () => {
    const mirror = await CacheServer.serve(cacheDir, protocol);
    try {
      const nar = narOf('dzlyqx2ian7g7d3q7c82f62y9gabffbn');
      // The narinfo moved within the cache (a relative Location), the NAR to another server.
      server.inject('dzlyqx2ian7g7d3q7c82f62y9gabffbn.narinfo', { kind: 'redirect', location: './dzlyqx2ian7g7d3q7c82f62y9gabffbn.narinfo?moved=1' }, 1);
      server.inject(nar, { kind: 'redirect', location: `${mirror.url}/${nar}` });
      const root = tempDir();
      const r = await realise(root, [], SIMPLE);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(isValid(root, SIMPLE));
      assert.deepEqual(mirror.requests, [nar]);
    } finally {
      await mirror.close();
    }
  });

  it('asks nothing when nothing needs substituting', async () => {
    const root = tempDir();
    assert.equal((await realise(root, [], SIMPLE)).code, 0);
    server.requests = [];
    const again = await realise(root, [], SIMPLE);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(server.requests, []);
  });

  it('remembers answers on disk: a second --dry-run asks nothing, until the negative TTL has passed', async () => {
    const cacheHome = tempDir();
    const env = { XDG_CACHE_HOME: cacheHome };
    const missing = '/nix/store/00000000000000000000000000000000-absent';
    const dryRun = (...extra: string[]) =>
      tsnixStore(['--store', tempDir(), '--option', 'substituters', server.url, '--option', 'trusted-public-keys', PUBLIC_KEY, ...extra, '-r', '--dry-run', WITH_REF, missing], { env });
    const first = await dryRun();
    assert.match(first.stderr, /these 2 paths will be fetched/);
    assert.ok(server.requests.length >= 4, server.requests.join(' '));
    server.requests = [];
    const second = await dryRun();
    assert.equal(second.stderr, first.stderr);
    assert.deepEqual(server.requests, []);
    // With a negative TTL of 0 the absent path is asked for again (and only it).
    const third = await dryRun('--option', 'narinfo-cache-negative-ttl', '0');
    assert.equal(third.stderr, first.stderr);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    server.requests = [];
    await dryRun('--option', 'narinfo-cache-negative-ttl', '0');
    assert.deepEqual(server.requests, ['00000000000000000000000000000000.narinfo']);
  });

  it('retries answers of 500 and a download cut off midway, then succeeds', async () => {
    server.inject('dzlyqx2ian7g7d3q7c82f62y9gabffbn.narinfo', { kind: 'status', status: 500 }, 2);
    server.inject(narOf('dzlyqx2ian7g7d3q7c82f62y9gabffbn'), { kind: 'cut', afterBytes: 40 }, 2);
    const root = tempDir();
    const r = await realise(root, [], SIMPLE);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(isValid(root, SIMPLE));
    assert.equal(server.requests.filter((n) => n.endsWith('.narinfo')).length, 3);
  });

  it('gives up after download-attempts, naming the path and the cache, registering nothing', async () => {
    server.inject(narOf('dzlyqx2ian7g7d3q7c82f62y9gabffbn'), { kind: 'cut', afterBytes: 40 });
    const root = tempDir();
    const r = await realise(root, ['--option', 'download-attempts', '3'], SIMPLE);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${SIMPLE}`));
    assert.match(r.stderr, new RegExp(server.url.replace(/\./g, '\\.')));
    assert.equal(server.requests.filter((n) => n.startsWith('nar/')).length, 3);
    assert.equal(isValid(root, SIMPLE), false);
  });

  it('a substitute that fails while the plan is still asked for: the listing, then that failure, not a cancellation', async () => {
    // SIMPLE's NAR is corrupt and fails at once; WITH_REF's narinfo is slow, so the plan is
    // still waiting for it when the goal of SIMPLE fails and stops the others.
    server.inject(narOf('dzlyqx2ian7g7d3q7c82f62y9gabffbn'), { kind: 'status', status: 404 });
    server.inject('czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y.narinfo', { kind: 'delay', ms: 1500 });
    const root = tempDir();
    const r = await realise(root, [], SIMPLE, WITH_REF);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^these 2 paths will be fetched/m);
    assert.match(r.stderr, /cannot substitute path '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'/);
    assert.doesNotMatch(r.stderr, /cancel/i);
    assert.equal(isValid(root, SIMPLE), false);
  });

  it('gives up on a server that does not answer within connect-timeout', async () => {
    server.inject('dzlyqx2ian7g7d3q7c82f62y9gabffbn.narinfo', { kind: 'hang' });
    const root = tempDir();
    const started = Date.now();
    const r = await realise(root, ['--option', 'connect-timeout', '1', '--option', 'download-attempts', '2'], SIMPLE);
    assert.notEqual(r.code, 0);
    assert.ok(Date.now() - started < 20000, 'it did not wait much longer than the timeout');
    assert.equal(isValid(root, SIMPLE), false);
  });
});
