/**
 * Binary caches both ways with real Nix 2.8: nix-store substitutes over HTTP from the caches
 * `tsnix-store --copy-to` writes (xz, zstd, none), checking their signatures; tsnix-store
 * substitutes from the caches `nix copy --to file://…` writes, signed and unsigned.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeExportTrailer, EXPORT_END, EXPORT_NEXT } from '../../src/format/exportFormat.js';
import { encodeString } from '../../src/format/wire.js';
import { CacheServer } from '../support/cacheServer.js';
import { run, tempDir, tsnixStore, tsnixStoreOk, type RunResult } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';
import { nixOk, requireNix } from '../support/nix.js';

const SIMPLE = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple';
const WITH_REF = '/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref';
const SIMPLE_DRV = '/nix/store/3ka20g6nw09f7rs8lzqydz5yfj5vdx8n-simple.drv';
const WITH_REF_DRV = '/nix/store/m0vq8cw83izvmq55vjzij09fjn4xlfp0-with-ref.drv';

const NIX_ENV = { NIX_CONF_DIR: '/nonexistent', NIX_REMOTE: '' };

/** simple (with its deriver) then with-ref, as export streams: input-addressed paths, valid only with a signature. */
function exportStreams(): Buffer[] {
  const nar = Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents', 'hello\n', ')'].map((t) => encodeString(t)));
  const simple = Buffer.concat([EXPORT_NEXT, nar, encodeExportTrailer({ path: SIMPLE, references: [], deriver: SIMPLE_DRV }), EXPORT_END]);
  return [simple, readFileSync(fixture('export/with-ref.export'))];
}

/** Runs a Nix program without blocking this process: the cache server answers from it. */
async function nixAsync(program: string, args: string[]): Promise<RunResult> {
  return run(program, args, { env: NIX_ENV });
}

async function nixAsyncOk(program: string, args: string[]): Promise<string> {
  const r = await nixAsync(program, args);
  if (r.code !== 0) throw new Error(`${program} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.toString();
}

async function generateKey(name: string): Promise<{ secretFile: string; publicKey: string }> {
  const dir = tempDir();
  await tsnixStoreOk(['--generate-binary-cache-key', name, join(dir, 'secret'), join(dir, 'public')]);
  return { secretFile: join(dir, 'secret'), publicKey: readFileSync(join(dir, 'public'), 'utf8') };
}

function addedFile(): string {
  const file = join(tempDir(), 'added.txt');
  writeFileSync(file, 'added for the cache\n');
  return file;
}

describe('binary caches between tsnix and nix', function () {
  this.timeout(120000);
  let nixStore: string;
  let nix: string;

  before(function () {
    nixStore = requireNix(this);
    nix = requireNix(this, 'nix');
  });

  describe('nix-store substitutes from caches tsnix-store --copy-to wrote', () => {
    let tsnixRoot: string;
    let added: string;
    let key: { secretFile: string; publicKey: string };

    before(async () => {
      tsnixRoot = tempDir('tsnix-bc-src-');
      for (const stream of exportStreams()) await tsnixStoreOk(['--store', tsnixRoot, '--import'], { input: stream });
      added = (await tsnixStoreOk(['--store', tsnixRoot, '--add', addedFile()])).trim();
      key = await generateKey('tsnix-cache-1');
    });

    for (const compression of ['xz', 'zstd', 'none']) {
      it(`over HTTP with compression=${compression}: the closure arrives signed, with tsnix's hashes, references and derivers`, async () => {
        const cache = join(tempDir(), 'cache');
        await tsnixStoreOk(['--store', tsnixRoot, '--copy-to', `file://${cache}?compression=${compression}&secret-key=${key.secretFile}`, WITH_REF, added]);
        const server = await CacheServer.serve(cache);
        try {
          const nixRoot = tempDir('tsnix-bc-nix-');
          const out = await nixAsyncOk(nixStore, [
            '--store', nixRoot, '--option', 'substituters', server.url, '--option', 'trusted-public-keys', key.publicKey, '-r', WITH_REF, added,
          ]);
          assert.equal(out, `${WITH_REF}\n${added}\n`);
          assert.ok(server.requests.some((name) => name.startsWith('nar/')), 'the NARs came over HTTP');
          for (const path of [WITH_REF, SIMPLE, added]) {
            await nixAsyncOk(nixStore, ['--store', nixRoot, '--verify-path', path]);
            const hash = await tsnixStoreOk(['--store', tsnixRoot, '-q', '--hash', path]);
            assert.equal(await nixAsyncOk(nixStore, ['--store', nixRoot, '-q', '--hash', path]), hash, path);
          }
          assert.equal(await nixAsyncOk(nixStore, ['--store', nixRoot, '-q', '--references', WITH_REF]), `${SIMPLE}\n`);
          assert.equal(await nixAsyncOk(nixStore, ['--store', nixRoot, '-q', '--deriver', WITH_REF]), `${WITH_REF_DRV}\n`);
          assert.equal(await nixAsyncOk(nixStore, ['--store', nixRoot, '-q', '--deriver', SIMPLE]), `${SIMPLE_DRV}\n`);
          const verify = await nixAsync(nixStore, ['--store', nixRoot, '--verify', '--check-contents']);
          assert.equal(verify.code, 0, verify.stderr);
        } finally {
          await server.close();
        }
      });
    }

    it("is refused by nix when signed by another key of the trusted key's name", async () => {
      const cache = join(tempDir(), 'cache');
      await tsnixStoreOk(['--store', tsnixRoot, '--copy-to', `file://${cache}?secret-key=${key.secretFile}`, SIMPLE]);
      const impostor = await generateKey('tsnix-cache-1');
      const server = await CacheServer.serve(cache);
      try {
        const nixRoot = tempDir('tsnix-bc-nix-');
        const r = await nixAsync(nixStore, ['--store', nixRoot, '--option', 'substituters', server.url, '--option', 'trusted-public-keys', impostor.publicKey, '-r', SIMPLE]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /the substitute for '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple' from 'http:\/\/127\.0\.0\.1:\d+\/cache-[\d-]+' is not signed by any of the keys in 'trusted-public-keys'/);
        const valid = await nixAsync(nixStore, ['--store', nixRoot, '--check-validity', SIMPLE]);
        assert.notEqual(valid.code, 0, 'nothing became valid');
      } finally {
        await server.close();
      }
    });
  });

  describe('tsnix-store substitutes from caches nix copy wrote', () => {
    let nixRoot: string;
    let added: string;

    before(() => {
      nixRoot = tempDir('tsnix-bc-nixsrc-');
      for (const stream of exportStreams()) nixOk(nixStore, ['--store', nixRoot, '--import'], stream);
      added = nixOk(nixStore, ['--store', nixRoot, '--add', addedFile()]).trim();
    });

    function nixCopy(to: string, ...paths: string[]): void {
      nixOk(nix, ['--extra-experimental-features', 'nix-command', 'copy', '--store', nixRoot, '--to', to, ...paths]);
    }

    it('signed (xz, the default): the closure arrives with nix\'s hashes, references, deriver and signatures', async () => {
      const key = await generateKey('nix-cache-1');
      const cache = join(tempDir(), 'cache');
      nixCopy(`file://${cache}?secret-key=${key.secretFile}`, WITH_REF, added);
      const root = tempDir('tsnix-bc-dst-');
      const r = await tsnixStore(['--store', root, '--option', 'substituters', `file://${cache}`, '--option', 'trusted-public-keys', key.publicKey, '-r', WITH_REF, added]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `${WITH_REF}\n${added}\n`);
      for (const path of [WITH_REF, SIMPLE, added]) {
        assert.equal(await tsnixStoreOk(['--store', root, '-q', '--hash', path]), nixOk(nixStore, ['--store', nixRoot, '-q', '--hash', path]), path);
        const narinfo = readFileSync(join(cache, `${path.slice(11, 43)}.narinfo`), 'utf8');
        assert.match(narinfo, /^Compression: xz$/m);
        assert.match(narinfo, /^Sig: nix-cache-1:/m);
      }
      assert.equal(await tsnixStoreOk(['--store', root, '-q', '--references', WITH_REF]), `${SIMPLE}\n`);
      assert.equal(await tsnixStoreOk(['--store', root, '-q', '--deriver', WITH_REF]), `${WITH_REF_DRV}\n`);
      const verify = await tsnixStore(['--store', root, '--verify', '--check-contents']);
      assert.equal(verify.code, 0, verify.stderr);
    });

    it('unsigned (zstd): refused under require-sigs but for the content-addressed path, taken with require-sigs = false', async () => {
      const cache = join(tempDir(), 'cache');
      nixCopy(`file://${cache}?compression=zstd`, WITH_REF, added);
      const root = tempDir('tsnix-bc-dst-');
      const substituter = ['--store', root, '--option', 'substituters', `file://${cache}`];
      const refused = await tsnixStore([...substituter, '-r', SIMPLE]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /does not have a valid signature for path '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'/);
      // `nix-store --add` paths are content-addressed: their CA proves them without a signature.
      assert.equal(await tsnixStoreOk([...substituter, '-r', added]), `${added}\n`);
      const taken = await tsnixStore([...substituter, '--option', 'require-sigs', 'false', '-r', WITH_REF]);
      assert.equal(taken.code, 0, taken.stderr);
      for (const path of [WITH_REF, SIMPLE, added]) {
        assert.equal(await tsnixStoreOk(['--store', root, '-q', '--hash', path]), nixOk(nixStore, ['--store', nixRoot, '-q', '--hash', path]), path);
      }
    });

    it('a cache nix copy wrote and tsnix-store --copy-to then added to still serves nix', async () => {
      const key = await generateKey('mixed-cache-1');
      const cache = join(tempDir(), 'cache');
      nixCopy(`file://${cache}?secret-key=${key.secretFile}`, SIMPLE);
      const tsnixRoot = tempDir('tsnix-bc-mixed-');
      await tsnixStoreOk(['--store', tsnixRoot, '--option', 'substituters', `file://${cache}`, '--option', 'trusted-public-keys', key.publicKey, '-r', SIMPLE]);
      await tsnixStoreOk(['--store', tsnixRoot, '--import'], { input: exportStreams()[1]! });
      await tsnixStoreOk(['--store', tsnixRoot, '--copy-to', `file://${cache}?compression=zstd&secret-key=${key.secretFile}`, WITH_REF]);
      const nixDst = tempDir('tsnix-bc-nixdst-');
      const r = await nixAsync(nixStore, ['--store', nixDst, '--option', 'substituters', `file://${cache}`, '--option', 'trusted-public-keys', key.publicKey, '-r', WITH_REF]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await nixAsyncOk(nixStore, ['--store', nixDst, '-q', '--hash', WITH_REF]), await tsnixStoreOk(['--store', tsnixRoot, '-q', '--hash', WITH_REF]));
    });
  });
});
