/**
 * `tsnix-store -r` substituting from the binary caches real `nix copy` wrote (the vectors):
 * the path and its references arrive valid with the narinfo's hash, references, deriver and
 * signatures; an unsigned or tampered substitute is refused and leaves nothing valid.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir, tsnixStore } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { encodeNix32 } from '../../src/format/base32.js';

/** A NAR string: u64 little-endian length, bytes, zero padding to 8. */
function narString(text: string): Buffer {
  const bytes = Buffer.from(text);
  const length = Buffer.alloc(8);
  length.writeUInt32LE(bytes.length);
  return Buffer.concat([length, bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8)]);
}

const vectors = fixture('binary-cache');
const PUBLIC_KEY = readFileSync(join(vectors, 'public.key'), 'utf8').trim();
const WITH_REF = '/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref';
const SIMPLE = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple';

function narinfoOf(cache: string, path: string): Map<string, string[]> {
  const text = readFileSync(join(cache, `${path.slice('/nix/store/'.length, '/nix/store/'.length + 32)}.narinfo`), 'utf8');
  const fields = new Map<string, string[]>();
  for (const line of text.trim().split('\n')) {
    const at = line.indexOf(': ');
    const key = at < 0 ? line.replace(/:$/, '') : line.slice(0, at);
    fields.set(key, [...(fields.get(key) ?? []), at < 0 ? '' : line.slice(at + 2)]);
  }
  return fields;
}

function rowOf(root: string, path: string): { id: number; hash: string; narSize: number; deriver: string | null; sigs: string | null } | undefined {
  const db = new Database(join(root, 'nix/var/nix/db/db.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT id, hash, narSize, deriver, sigs FROM ValidPaths WHERE path = ?').get(path) as never;
  } finally {
    db.close();
  }
}

function referencesOf(root: string, path: string): string[] {
  const db = new Database(join(root, 'nix/var/nix/db/db.sqlite'), { readonly: true });
  try {
    const rows = db
      .prepare('SELECT v2.path AS ref FROM Refs JOIN ValidPaths v1 ON v1.id = Refs.referrer JOIN ValidPaths v2 ON v2.id = Refs.reference WHERE v1.path = ?')
      .all(path) as { ref: string }[];
    return rows.map((r) => r.ref).sort();
  } finally {
    db.close();
  }
}

/** A writable copy of the vectors' uncompressed cache. */
function copyOfCache(): string {
  const cache = join(tempDir(), 'cache');
  cpSync(join(vectors, 'cache-none'), cache, { recursive: true });
  return cache;
}

/** A copy of the cache in which one byte of SIMPLE's NAR is flipped. */
function cacheWithCorruptSimpleNar(): string {
  const cache = copyOfCache();
  const nar = join(cache, narinfoOf(cache, SIMPLE).get('URL')![0]!);
  const bytes = readFileSync(nar);
  bytes[bytes.length - 20] ^= 1;
  writeFileSync(nar, bytes);
  return cache;
}

/** A copy of the cache whose narinfo of SIMPLE is changed by `edit`. */
function cacheWithSimpleNarInfo(edit: (text: string) => string): string {
  const cache = copyOfCache();
  const file = join(cache, 'dzlyqx2ian7g7d3q7c82f62y9gabffbn.narinfo');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
  return cache;
}

function realise(root: string, cacheDir: string, extra: string[], ...paths: string[]) {
  return tsnixStore(['--store', root, '--option', 'substituters', `file://${cacheDir}`, ...extra, '-r', ...paths]);
}

describe('substitution from file:// binary caches nix wrote', function () {
  this.timeout(60000);

  for (const kind of ['none', 'xz']) {
    it(`fetches a path and its reference from the ${kind} cache, with nix's hashes, references, deriver and signatures`, async () => {
      const cache = join(vectors, `cache-${kind}`);
      const root = tempDir();
      const r = await realise(root, cache, ['--option', 'trusted-public-keys', PUBLIC_KEY], WITH_REF);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.toString(), `${WITH_REF}\n`);
      for (const path of [WITH_REF, SIMPLE]) {
        const info = narinfoOf(cache, path);
        const row = rowOf(root, path);
        assert.ok(row, `${path} is valid`);
        assert.equal(row.narSize, Number(info.get('NarSize')![0]));
        assert.equal(row.sigs, info.get('Sig')!.join(' '));
        const refs = info.get('References')![0]!.split(' ').filter((s) => s).map((b) => `/nix/store/${b}`);
        assert.deepEqual(referencesOf(root, path), refs.sort());
        if (info.has('Deriver')) assert.equal(row.deriver, `/nix/store/${info.get('Deriver')![0]}`);
      }
      const verify = await tsnixStore(['--store', root, '--verify', '--check-contents']);
      assert.equal(verify.code, 0, verify.stderr);
    });
  }

  it('prints the listing before any copying, and makes a path valid only after its reference', async () => {
    const root = tempDir();
    const r = await realise(root, join(vectors, 'cache-none'), ['--option', 'trusted-public-keys', PUBLIC_KEY], WITH_REF);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split('\n');
    const listing = lines.findIndex((l) => l.startsWith('these 2 paths will be fetched'));
    const copying = lines.findIndex((l) => l.startsWith('copying path'));
    assert.ok(listing >= 0 && copying > listing, r.stderr);
    // Registration order: the reference's row comes first.
    assert.ok(rowOf(root, SIMPLE)!.id < rowOf(root, WITH_REF)!.id);
  });

  it('downloads a path beside its failing reference but never makes it valid, and leaves no temporary directory', async () => {
    const cache = cacheWithCorruptSimpleNar();
    const root = tempDir();
    const r = await realise(root, cache, ['--option', 'trusted-public-keys', PUBLIC_KEY, '-j', '4'], WITH_REF);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hash mismatch importing path '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'/);
    assert.equal(rowOf(root, SIMPLE), undefined);
    assert.equal(rowOf(root, WITH_REF), undefined);
    assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => !n.endsWith('.lock')), []);
  });

  it('repairs a corrupt or missing path by fetching it again (--repair-path), as Nix does before building its deriver', async () => {
    const cache = join(vectors, 'cache-none');
    const root = tempDir();
    const options = ['--option', 'substituters', `file://${cache}`, '--option', 'trusted-public-keys', PUBLIC_KEY];
    assert.equal((await tsnixStore(['--store', root, ...options, '-r', WITH_REF])).code, 0);
    const real = join(root, SIMPLE);
    const original = readFileSync(real);
    chmodSync(real, 0o644);
    writeFileSync(real, 'damaged\n');
    assert.notEqual((await tsnixStore(['--store', root, '--verify-path', SIMPLE])).code, 0);
    const repaired = await tsnixStore(['--store', root, ...options, '--repair-path', SIMPLE]);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.match(repaired.stderr, /repairing path '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'/);
    assert.deepEqual(readFileSync(real), original);
    assert.equal((await tsnixStore(['--store', root, '--verify-path', SIMPLE])).code, 0);
    // Gone altogether: fetched again too; the reference graph is unchanged.
    rmSync(real, { force: true });
    const again = await tsnixStore(['--store', root, ...options, '--repair-path', SIMPLE]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(readFileSync(real), original);
    assert.deepEqual(referencesOf(root, WITH_REF), [SIMPLE]);
    assert.equal((await tsnixStore(['--store', root, '--verify', '--check-contents'])).code, 0);
    assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => n.startsWith('.tsnix-')), []);
  });

  it('refuses a path without a signature by a trusted key (require-sigs), and takes it with require-sigs = false or from a cache marked trusted', async () => {
    const cache = join(vectors, 'cache-none');
    const root = tempDir();
    const refused = await realise(root, cache, ['--option', 'trusted-public-keys', 'other-key-1:XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g='], SIMPLE);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /does not have a valid signature for path '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'/);
    assert.equal(rowOf(root, SIMPLE), undefined);
    const taken = await realise(root, cache, ['--option', 'require-sigs', 'false'], SIMPLE);
    assert.equal(taken.code, 0, taken.stderr);
    assert.ok(rowOf(root, SIMPLE));
    // A cache marked trusted (`?trusted=1`) needs no signature either, as in Nix.
    const other = tempDir();
    const trusted = await realise(other, `${cache}?trusted=1`, ['--option', 'trusted-public-keys', 'other-key-1:XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g='], SIMPLE);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.ok(rowOf(other, SIMPLE));
  });

  it('refuses a NAR whose hash is not the narinfo\'s, registering nothing', async () => {
    const cache = cacheWithCorruptSimpleNar();
    const root = tempDir();
    const r = await realise(root, cache, ['--option', 'trusted-public-keys', PUBLIC_KEY], SIMPLE);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /hash mismatch importing path '\/nix\/store\/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'/);
    assert.equal(rowOf(root, SIMPLE), undefined);
    assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => n.includes('simple')), []);
  });

  it('names the narinfo and the field of a malformed narinfo, and registers nothing', async () => {
    const cache = cacheWithSimpleNarInfo((text) => text.replace(/^NarHash: .*$/m, 'NarHash: sha256:nonsense'));
    const root = tempDir();
    const r = await realise(root, cache, ['--option', 'require-sigs', 'false'], SIMPLE);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /dzlyqx2ian7g7d3q7c82f62y9gabffbn\.narinfo/);
    assert.match(r.stderr, /NarHash/);
    assert.equal(rowOf(root, SIMPLE), undefined);
  });

  for (const evilName of ['..', 'a/b']) {
    it(`refuses a NAR with an entry named '${evilName}', registering nothing`, async () => {
      const cache = tempDir();
      const nar = Buffer.concat(
        ['nix-archive-1', '(', 'type', 'directory', 'entry', '(', 'name', evilName, 'node', '(', 'type', 'regular', 'contents', 'x', ')', ')', ')'].map(narString),
      );
      const path = '/nix/store/00000000000000000000000000000000-evil';
      mkdirSync(join(cache, 'nar'));
      writeFileSync(join(cache, 'nar', 'evil.nar'), nar);
      writeFileSync(join(cache, 'nix-cache-info'), 'StoreDir: /nix/store\n');
      const narHash = encodeNix32(createHash('sha256').update(nar).digest());
      writeFileSync(
        join(cache, '00000000000000000000000000000000.narinfo'),
        `StorePath: ${path}\nURL: nar/evil.nar\nCompression: none\nNarHash: sha256:${narHash}\nNarSize: ${nar.length}\nReferences: \n`,
      );
      const root = tempDir();
      const r = await realise(root, cache, ['--option', 'require-sigs', 'false'], path);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /evil/);
      assert.equal(rowOf(root, path), undefined);
      assert.deepEqual(readdirSync(join(root, 'nix/store')).filter((n) => n.includes('evil')), []);
      assert.deepEqual(readdirSync(join(root, 'nix')).filter((n) => n === 'b' || n === 'a'), []);
    });
  }

  it('takes an unsigned content-addressed path only when its content has that address', async () => {
    const cache = copyOfCache();
    const path = '/nix/store/fmnmafj8xp9i19slpacsjrdqkb1zy7w8-01-regular.txt';
    const file = join(cache, 'fmnmafj8xp9i19slpacsjrdqkb1zy7w8.narinfo');
    const unsigned = readFileSync(file, 'utf8').replace(/^Sig: .*\n/gm, '');
    writeFileSync(file, unsigned);
    const root = tempDir();
    const honest = await realise(root, cache, ['--option', 'trusted-public-keys', 'other-key-1:XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g='], path);
    assert.equal(honest.code, 0, honest.stderr);
    // Another cache: another NAR, its NarHash and NarSize stated truthfully, under the same content address.
    const forgedCache = join(tempDir(), 'cache');
    cpSync(cache, forgedCache, { recursive: true });
    const forgedFile = join(forgedCache, 'fmnmafj8xp9i19slpacsjrdqkb1zy7w8.narinfo');
    const nar = Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents', 'evil content', ')'].map(narString));
    writeFileSync(join(forgedCache, 'nar', 'evil.nar'), nar);
    const narHash = encodeNix32(createHash('sha256').update(nar).digest());
    writeFileSync(
      forgedFile,
      unsigned
        .replace(/^URL: .*$/m, 'URL: nar/evil.nar')
        .replace(/^FileHash: .*$/m, `FileHash: sha256:${narHash}`)
        .replace(/^FileSize: .*$/m, `FileSize: ${nar.length}`)
        .replace(/^NarHash: .*$/m, `NarHash: sha256:${narHash}`)
        .replace(/^NarSize: .*$/m, `NarSize: ${nar.length}`),
    );
    const other = tempDir();
    const forged = await realise(other, forgedCache, ['--option', 'trusted-public-keys', 'other-key-1:XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g='], path);
    assert.notEqual(forged.code, 0);
    assert.match(forged.stderr, /ca hash mismatch importing path '\/nix\/store\/fmnmafj8xp9i19slpacsjrdqkb1zy7w8-01-regular\.txt'/);
    assert.equal(rowOf(other, path), undefined);
  });

  it('stops a NAR that grows past its NarSize, registering nothing', async () => {
    const cache = cacheWithSimpleNarInfo((text) => text.replace(/^NarSize: .*$/m, 'NarSize: 16').replace(/^FileSize: .*\n/m, ''));
    const root = tempDir();
    const r = await realise(root, cache, ['--option', 'require-sigs', 'false'], SIMPLE);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is larger than its narinfo's NarSize/);
    assert.equal(rowOf(root, SIMPLE), undefined);
  });

  it('refuses references that form a cycle instead of waiting forever', async () => {
    const cache = cacheWithSimpleNarInfo((text) => text.replace(/^References: .*$/m, 'References: czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref'));
    const root = tempDir();
    const r = await realise(root, cache, ['--option', 'require-sigs', 'false'], WITH_REF);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cycle detected in the references of/);
    assert.equal(rowOf(root, WITH_REF), undefined);
    assert.equal(rowOf(root, SIMPLE), undefined);
  });

  it('skips a cache for another store directory, and one that is not a cache', async () => {
    const cache = copyOfCache();
    writeFileSync(join(cache, 'nix-cache-info'), 'StoreDir: /gnu/store\n');
    const root = tempDir();
    const r = await realise(root, cache, ['--option', 'require-sigs', 'false'], SIMPLE);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is for Nix stores with prefix '\/gnu\/store'/);
    const empty = tempDir();
    const none = await realise(root, empty, ['--option', 'require-sigs', 'false'], SIMPLE);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /has no 'nix-cache-info'/);
  });
});

describe('derivations and untrusted substitutes', function () {
  this.timeout(120000);

  it('builds a derivation with allowSubstitutes = false though a cache has it; fetches it with always-allow-substitutes', async () => {
    const { BuildStore } = await import('../support/buildStore.js');
    const source = await BuildStore.create();
    // `allowSubstitutes = false` in Nix's language is the empty string in the environment.
    const drv = source.drv('cheap-output', 'echo cheap > $out', [], { allowSubstitutes: '' });
    await source.write([drv]);
    assert.equal((await source.run(['-r', drv.drvPath])).code, 0);
    const cache = join(tempDir(), 'cache');
    const copied = await source.run(['--copy-to', `file://${cache}`, drv.out]);
    assert.equal(copied.code, 0, copied.stderr);
    const options = ['--option', 'substituters', `file://${cache}`, '--option', 'require-sigs', 'false'];

    const local = await BuildStore.create();
    await local.write([drv]);
    const dry = await local.run([...options, '-r', '--dry-run', drv.drvPath]);
    assert.match(dry.stderr, /this derivation will be built:/);
    const built = await local.run([...options, '-r', drv.drvPath]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /building '.*cheap-output\.drv'/);
    assert.doesNotMatch(built.stderr, /copying path/);

    const always = await BuildStore.create();
    await always.write([drv]);
    const fetched = await always.run([...options, '--option', 'always-allow-substitutes', 'true', '-r', drv.drvPath]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stderr, /copying path '.*cheap-output'/);
    assert.doesNotMatch(fetched.stderr, /building/);
  });

  it('-r --repair fetches a damaged output again from a cache rather than building it', async () => {
    const { BuildStore } = await import('../support/buildStore.js');
    const source = await BuildStore.create();
    const drv = source.drv('repairable', 'echo repairable > $out');
    await source.write([drv]);
    assert.equal((await source.run(['-r', drv.drvPath])).code, 0);
    const cache = join(tempDir(), 'cache');
    assert.equal((await source.run(['--copy-to', `file://${cache}`, drv.out])).code, 0);
    const options = ['--option', 'substituters', `file://${cache}`, '--option', 'require-sigs', 'false'];

    const store = await BuildStore.create();
    await store.write([drv]);
    assert.equal((await store.run([...options, '-r', drv.drvPath])).code, 0);
    const real = join(store.root, drv.out);
    chmodSync(real, 0o644);
    writeFileSync(real, 'damaged\n');
    const repaired = await store.run([...options, '-r', '--repair', drv.drvPath]);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.match(repaired.stderr, /copying path '.*repairable'/);
    assert.doesNotMatch(repaired.stderr, /building/);
    assert.equal(readFileSync(real, 'utf8'), 'repairable\n');
    assert.equal((await store.run(['--verify-path', drv.out])).code, 0);
  });

  it('builds a derivation whose outputs only an unsigned cache has, and fetches them when signatures are not required', async () => {
    const { BuildStore } = await import('../support/buildStore.js');
    const source = await BuildStore.create();
    const drv = source.drv('cached-output', 'echo cached > $out');
    await source.write([drv]);
    assert.equal((await source.run(['-r', drv.drvPath])).code, 0);
    const cache = join(tempDir(), 'cache');
    const copied = await source.run(['--copy-to', `file://${cache}`, drv.out]);
    assert.equal(copied.code, 0, copied.stderr);

    const strict = await BuildStore.create();
    await strict.write([drv]);
    const built = await strict.run(['--option', 'substituters', `file://${cache}`, '-r', drv.drvPath]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /building '.*cached-output\.drv'/);
    assert.doesNotMatch(built.stderr, /copying path/);

    const lax = await BuildStore.create();
    await lax.write([drv]);
    const fetched = await lax.run(['--option', 'substituters', `file://${cache}`, '--option', 'require-sigs', 'false', '-r', drv.drvPath]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stderr, /copying path '.*cached-output'/);
    assert.doesNotMatch(fetched.stderr, /building/);
  });
});
