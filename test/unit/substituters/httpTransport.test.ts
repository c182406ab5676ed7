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

describe('HttpTransport over HTTP/1.1 with few connections', function () {
  let dir: string;
  let server: CacheServer;
  let transport: HttpTransport;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'tsnix-transport-'));
    for (const name of ['a.narinfo', 'b.narinfo', 'c.narinfo']) writeFileSync(join(dir, name), `StorePath: ${name}\n`);
    mkdirSync(join(dir, 'nar'));
    writeFileSync(join(dir, 'nar/x.nar'), Buffer.alloc(100_000, 1));
    server = await CacheServer.serve(dir, 'http');
    transport = new HttpTransport(server.url, server.url, { connections: 1, connectTimeout: 5, attempts: 1 });
  });

  afterEach(async function () {
    await transport.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a download ahead of the narinfos queued before it', async function () {
    // 'a' holds the one connection; b and c queue, then the download is asked for.
    server.inject('a.narinfo', { kind: 'delay', ms: 200 });
    const small = ['a', 'b', 'c'].map((n) => transport.getFile(`${n}.narinfo`));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const download = drain(transport.streamFile('nar/x.nar'));
    const [a, b, c] = await Promise.all(small);
    assert.equal(await download, 100_000);
    assert.deepEqual([a, b, c].map((body) => body?.toString()), ['StorePath: a.narinfo\n', 'StorePath: b.narinfo\n', 'StorePath: c.narinfo\n']);
    assert.deepEqual(server.requests, ['a.narinfo', 'nar/x.nar', 'b.narinfo', 'c.narinfo']);
    assert.equal(server.connections, 1);
  });

  it('frees the connection after each kind of answer: a HEAD, a 404, an error, a refused body', async function () {
    this.timeout(20_000);
    // More than a narinfo may be (16 MiB): refused from its Content-Length, never read.
    writeFileSync(join(dir, 'big.narinfo'), Buffer.alloc((16 << 20) + 1));
    server.inject('broken.narinfo', { kind: 'status', status: 403 });
    assert.equal(await transport.hasFile('a.narinfo'), true);
    assert.equal(await transport.getFile('missing.narinfo'), undefined);
    assert.equal(await transport.getFile('broken.narinfo'), undefined);
    await assert.rejects(transport.getFile('big.narinfo'), /too large for a narinfo/);
    // An abandoned download lets its connection go as well.
    for await (const chunk of transport.streamFile('nar/x.nar')) {
      assert.ok(chunk.length > 0);
      break;
    }
    // With one connection, each of these would wait forever behind one not let go.
    assert.equal((await transport.getFile('b.narinfo'))?.toString(), 'StorePath: b.narinfo\n');
    assert.equal(await drain(transport.streamFile('nar/x.nar')), 100_000);
  });
});
