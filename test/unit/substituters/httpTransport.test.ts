import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpTransport } from '../../../src/substituters/httpTransport.js';
import { CacheServer } from '../../support/cacheServer.js';

async function drain(chunks: AsyncIterable<Buffer>): Promise<number> {
  let total = 0;
  for await (const chunk of chunks) total += chunk.length;
  return total;
}

/** `promise`, or a failure naming `step` if it takes longer than 3 s (a request that never gets a connection). */
function within<T>(step: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${step}: no answer within 3 s`)), 3000);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('HttpTransport over HTTP/1.1 with few connections', function () {
  let dir: string;
  let server: CacheServer;
  let transport: HttpTransport;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'tsnix-transport-'));
    for (const name of ['a.narinfo', 'b.narinfo', 'c.narinfo']) writeFileSync(join(dir, name), `StorePath: ${name}\n`);
    mkdirSync(join(dir, 'nar'));
    writeFileSync(join(dir, 'nar/x.nar'), Buffer.alloc(100_000, 1));
    // More than a narinfo may be (16 MiB): refused from its Content-Length, never read.
    writeFileSync(join(dir, 'big.narinfo'), Buffer.alloc((16 << 20) + 1));
    server = await CacheServer.serve(dir, 'http');
    transport = new HttpTransport(server.url, server.url, { connections: 1, connectTimeout: 5, attempts: 1 });
  });

  afterEach(async function () {
    await transport.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * 'a' holds the one connection while b and c queue, then a download is asked for: it goes
   * next. Also shows that no more than one request is in flight (else b would go beside a).
   */
  async function downloadGoesFirst(): Promise<void> {
    const before = server.requests.length;
    server.inject('a.narinfo', { kind: 'delay', ms: 200 }, 1);
    const small = ['a', 'b', 'c'].map((n) => transport.getFile(`${n}.narinfo`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const download = drain(transport.streamFile('nar/x.nar'));
    const [a, b, c] = await within('the queued requests', Promise.all(small));
    assert.equal(await within('the download', download), 100_000);
    assert.deepEqual([a, b, c].map((body) => body?.toString()), ['StorePath: a.narinfo\n', 'StorePath: b.narinfo\n', 'StorePath: c.narinfo\n']);
    assert.deepEqual(server.requests.slice(before), ['a.narinfo', 'nar/x.nar', 'b.narinfo', 'c.narinfo']);
  }

  /**
   * Only one request is let go per place freed: with b in flight after a, c still waits in
   * the gate, so a download asked for now goes before it. (A place let go twice would have
   * sent c to undici's own queue together with b, ahead of any later download.)
   */
  async function onePlaceOneRequest(): Promise<void> {
    const before = server.requests.length;
    server.inject('a.narinfo', { kind: 'delay', ms: 150 }, 1);
    server.inject('b.narinfo', { kind: 'delay', ms: 300 }, 1);
    const small = ['a', 'b', 'c'].map((n) => transport.getFile(`${n}.narinfo`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const download = drain(transport.streamFile('nar/x.nar'));
    await within('the queued requests', Promise.all(small));
    assert.equal(await within('the download', download), 100_000);
    assert.deepEqual(server.requests.slice(before), ['a.narinfo', 'b.narinfo', 'nar/x.nar', 'c.narinfo']);
  }

  it('sends a download ahead of the narinfos queued before it', async function () {
    await downloadGoesFirst();
    assert.equal(server.connections, 1);
  });

  it('lets one waiting request go for each place freed', async function () {
    await onePlaceOneRequest();
  });

  it('frees the connection after each kind of answer: a HEAD, a 404, a 403, a redirect, a refused body, an abandoned download', async function () {
    server.inject('broken.narinfo', { kind: 'status', status: 403 });
    server.inject('moved.narinfo', { kind: 'redirect', location: `${server.url}/c.narinfo` });
    assert.equal(await within('HEAD', transport.hasFile('a.narinfo')), true);
    assert.equal(await within('404', transport.getFile('missing.narinfo')), undefined);
    assert.equal(await within('403', transport.getFile('broken.narinfo')), undefined);
    assert.equal((await within('redirect', transport.getFile('moved.narinfo')))?.toString(), 'StorePath: c.narinfo\n');
    await within('refused body', assert.rejects(transport.getFile('big.narinfo'), /too large for a narinfo/));
    for await (const chunk of transport.streamFile('nar/x.nar')) {
      assert.ok(chunk.length > 0);
      break;
    }
    // With one connection, each of these would wait forever behind a request not let go; and
    // one let go twice would let two go at once.
    assert.equal((await within('after them', transport.getFile('b.narinfo')))?.toString(), 'StorePath: b.narinfo\n');
    await downloadGoesFirst();
  });

  it('drops a request cancelled while it waits, at once and without sending it', async function () {
    server.inject('a.narinfo', { kind: 'delay', ms: 300 }, 1);
    const a = transport.getFile('a.narinfo');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const cancel = new AbortController();
    const started = Date.now();
    const b = transport.getFile('b.narinfo', cancel.signal);
    setTimeout(() => cancel.abort(new Error('cancelled by the test')), 30);
    await assert.rejects(b, /cancelled by the test/);
    assert.ok(Date.now() - started < 250, `the cancelled request waited ${Date.now() - started} ms`);
    assert.equal((await within('the first request', a))?.toString(), 'StorePath: a.narinfo\n');
    // Its place was not lost, and it never reached the server.
    assert.equal((await within('the next request', transport.getFile('c.narinfo')))?.toString(), 'StorePath: c.narinfo\n');
    assert.deepEqual(server.requests, ['a.narinfo', 'c.narinfo']);
  });

  it('refuses a body too large for a narinfo without a limit on connections (http-connections = 0)', async function () {
    const unlimited = new HttpTransport(server.url, server.url, { connections: 0, connectTimeout: 5, attempts: 1 });
    try {
      await within('refused body', assert.rejects(unlimited.getFile('big.narinfo'), /too large for a narinfo/));
      // The process is still here (an unhandled 'error' from the destroyed body would end it).
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal((await within('after it', unlimited.getFile('a.narinfo')))?.toString(), 'StorePath: a.narinfo\n');
    } finally {
      await unlimited.close();
    }
  });
});
