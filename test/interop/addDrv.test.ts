/**
 * Derivations against real Nix 2.8: the derivation API and `--add-drv` give the paths, bytes
 * and database rows nix-instantiate gives, nix reads and builds what we wrote, and the
 * example graph builds with `nix-store -r`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { derivation, outputOf, writeDerivations, type DerivationHandle } from '../../src/build/derivationApi.js';
import { hashBytes } from '../../src/format/hash.js';
import { LocalStore } from '../../src/store/localStore.js';
import { Settings } from '../../src/store/settings.js';
import { tempDir, tsnixStoreOk } from '../support/cli.js';
import { repoRoot } from '../support/fixtures.js';
import { nixOk, requireNix } from '../support/nix.js';

const FIXED_CONTENT = 'hello from a fixed output\n';
const FIXED_SRI = hashBytes('sha256', FIXED_CONTENT).toSRI();
const NIX_BUILD_OPTIONS = ['--option', 'sandbox', 'true', '--option', 'substituters', ''];

/** Four derivations: two outputs, a user of both, a fixed output (SRI hash), a user of that. */
function expression(bb: string): string {
  return `let
  bb = builtins.storePath "${bb}";
  mk = attrs: derivation ({ system = "x86_64-linux"; builder = "\${bb}/bin/busybox"; } // attrs);
in rec {
  multi = mk { name = "multi"; outputs = [ "out" "dev" ]; args = [ "sh" "-c" "echo o > $out; mkdir $dev; echo $out > $dev/where" ]; };
  user = mk { name = "user"; args = [ "sh" "-c" "cat $headers/where > $out; echo $lib >> $out" ]; headers = multi.dev; lib = multi; };
  fixed = mk { name = "fixed"; args = [ "sh" "-c" "printf '%s' \\"$content\\" > $out" ]; content = ${JSON.stringify(FIXED_CONTENT)}; outputHash = "${FIXED_SRI}"; };
  onFixed = mk { name = "on-fixed"; args = [ "sh" "-c" "cat $src > $out" ]; src = fixed; };
}
`;
}

/** The same four with the API. */
function handles(bb: string): Record<string, DerivationHandle> {
  const mk = (spec: Omit<Parameters<typeof derivation>[0], 'builder'>): DerivationHandle =>
    derivation({ builder: `${bb}/bin/busybox`, ...spec, inputs: [bb, ...(spec.inputs ?? [])] });
  const multi = mk({ name: 'multi', outputs: ['out', 'dev'], args: ['sh', '-c', 'echo o > $out; mkdir $dev; echo $out > $dev/where'] });
  const user = mk({
    name: 'user',
    args: ['sh', '-c', 'cat $headers/where > $out; echo $lib >> $out'],
    env: { headers: multi.outputs['dev']!, lib: multi.out },
    inputs: [outputOf(multi, 'dev'), multi],
  });
  const fixed = mk({ name: 'fixed', args: ['sh', '-c', `printf '%s' "$content" > $out`], env: { content: FIXED_CONTENT }, outputHash: FIXED_SRI });
  const onFixed = mk({ name: 'on-fixed', args: ['sh', '-c', 'cat $src > $out'], env: { src: fixed.out }, inputs: [fixed] });
  return { multi, user, fixed, onFixed };
}

/** A directory holding bin/busybox, named as the bench workloads' is. */
function busyboxSource(): string {
  const dir = join(tempDir('tsnix-bb-'), 'nixbench-bbsrc');
  mkdirSync(join(dir, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o555);
  return dir;
}

interface DrvRows {
  hash: string;
  narSize: number;
  ca: string | null;
  deriver: string | null;
  ultimate: number | null;
  references: string[];
  outputs: string[];
}

/** What a store's database says about a .drv path, minus ids and times. */
function drvRows(root: string, drvPath: string): DrvRows {
  const db = new Database(join(root, 'nix/var/nix/db/db.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('select id, hash, narSize, ca, deriver, ultimate from ValidPaths where path = ?').get(drvPath) as
      | (Omit<DrvRows, 'references' | 'outputs'> & { id: number })
      | undefined;
    assert.ok(row, `${drvPath} is not valid in ${root}`);
    const references = (db.prepare('select v.path from Refs r join ValidPaths v on r.reference = v.id where r.referrer = ?').all(row.id) as { path: string }[])
      .map((r) => r.path)
      .sort();
    const outputs = (db.prepare('select id, path from DerivationOutputs where drv = ?').all(row.id) as { id: string; path: string }[])
      .map((o) => `${o.id} ${o.path}`)
      .sort();
    const { id: _id, ...columns } = row;
    return { ...columns, references, outputs };
  } finally {
    db.close();
  }
}

function nixInstantiate(root: string, file: string, attr: string): string {
  return nixOk('nix-instantiate', ['--store', root, file, '-A', attr]).trim();
}

describe('derivations and real Nix', function () {
  let nixRoot: string;
  let bb: string;
  let bbSource: string;
  const nixPaths = new Map<string, string>();

  before(function () {
    requireNix(this, 'nix-instantiate');
    requireNix(this, 'nix-store');
    nixRoot = tempDir('tsnix-nixdrv-');
    bbSource = busyboxSource();
    bb = nixOk('nix-store', ['--store', nixRoot, '--add', bbSource]).trim();
    const file = join(tempDir('tsnix-expr-'), 'drvs.nix');
    writeFileSync(file, expression(bb));
    for (const attr of ['multi', 'user', 'fixed', 'onFixed']) nixPaths.set(attr, nixInstantiate(nixRoot, file, attr));
  });

  it('the API computes the .drv paths nix-instantiate writes (two outputs, a dependent, a fixed output, a user of it)', () => {
    for (const [attr, handle] of Object.entries(handles(bb))) assert.equal(handle.drvPath, nixPaths.get(attr), attr);
  });

  it('writeDerivations stores the bytes and database rows nix-instantiate stores', async () => {
    const root = tempDir('tsnix-apidrv-');
    assert.equal((await tsnixStoreOk(['--store', root, '--add', bbSource])).trim(), bb);
    const store = await LocalStore.open({ root, settings: new Settings() });
    try {
      await writeDerivations(store, [handles(bb)['user']!, handles(bb)['onFixed']!]);
    } finally {
      await store.close();
    }
    for (const drvPath of nixPaths.values()) {
      assert.deepEqual(readFileSync(join(root, drvPath)), readFileSync(join(nixRoot, drvPath)), drvPath);
      assert.deepEqual(drvRows(root, drvPath), drvRows(nixRoot, drvPath), drvPath);
    }
  });

  it('--add-drv takes the .drv files nix-instantiate wrote, and the JSON nix show-derivation prints', async () => {
    const fromFiles = tempDir('tsnix-addfiles-');
    const fromJson = tempDir('tsnix-addjson-');
    for (const root of [fromFiles, fromJson]) await tsnixStoreOk(['--store', root, '--add', bbSource]);
    const files = [...nixPaths.values()].reverse().map((p) => join(nixRoot, p));
    assert.deepEqual((await tsnixStoreOk(['--store', fromFiles, '--add-drv', ...files])).trim().split('\n'), [...nixPaths.values()].reverse());
    const json = nixOk('nix', ['--experimental-features', 'nix-command', 'show-derivation', '--store', nixRoot, '-r', nixPaths.get('user')!, nixPaths.get('onFixed')!]);
    const jsonFile = join(tempDir('tsnix-json-'), 'drvs.json');
    writeFileSync(jsonFile, json);
    await tsnixStoreOk(['--store', fromJson, '--add-drv', jsonFile]);
    for (const drvPath of nixPaths.values()) {
      for (const root of [fromFiles, fromJson]) assert.deepEqual(drvRows(root, drvPath), drvRows(nixRoot, drvPath), `${drvPath} in ${root}`);
    }
  });

  it('nix verifies and builds derivations the API wrote', async function () {
    this.timeout(300000);
    const root = tempDir('tsnix-nixbuild-');
    await tsnixStoreOk(['--store', root, '--add', bbSource]);
    const store = await LocalStore.open({ root, settings: new Settings() });
    const { user, onFixed } = handles(bb);
    try {
      await writeDerivations(store, [user!, onFixed!]);
    } finally {
      await store.close();
    }
    const verify = spawnSync('nix-store', ['--store', root, '--verify', '--check-contents'], { encoding: 'utf8', env: { ...process.env, NIX_CONF_DIR: '/nonexistent' } });
    assert.equal(verify.status, 0, verify.stderr);
    assert.doesNotMatch(verify.stderr, /error|corrupt|modified/);
    const built = nixOk('nix-store', ['--store', root, '-r', user!.drvPath, onFixed!.drvPath, ...NIX_BUILD_OPTIONS]).trim().split('\n');
    assert.deepEqual(built, [user!.out, onFixed!.out]);
    assert.equal(readFileSync(join(root, onFixed!.out), 'utf8'), FIXED_CONTENT);
    assert.equal(readFileSync(join(root, user!.out), 'utf8'), `${handles(bb)['multi']!.out}\n${handles(bb)['multi']!.out}\n`);
  });

  it('the example graph instantiates into a store where nix-store -r builds it, outputs referring to their inputs', function () {
    this.timeout(300000);
    const root = tempDir('tsnix-example-');
    const instantiate = spawnSync('node', [join(repoRoot, 'dist/examples/instantiate.js'), '--store', root], { encoding: 'utf8' });
    assert.equal(instantiate.status, 0, instantiate.stderr);
    const tops = instantiate.stdout.trim().split('\n');
    assert.equal(tops.length, 2);
    const outputs = nixOk('nix-store', ['--store', root, '-r', ...tops, ...NIX_BUILD_OPTIONS]).trim().split('\n');
    assert.equal(outputs.length, 2);
    const release = outputs.find((p) => p.endsWith('-example-release'))!;
    assert.match(readFileSync(join(root, release, 'test-report'), 'utf8'), /^report of \/nix\/store\/[0-9a-z]{32}-example-tests:\ntests of \/nix\/store\/[0-9a-z]{32}-example-app passed\n$/);
    const references = nixOk('nix-store', ['--store', root, '-q', '--references', release]).trim().split('\n');
    assert.deepEqual(references.map((p) => p.replace(/^\/nix\/store\/[0-9a-z]{32}-/, '')).sort(), ['example-app', 'example-bundle', 'example-tests']);
    // Eleven builds: the whole closure of the two tops, the diamond built once.
    const closure = nixOk('nix-store', ['--store', root, '-qR', ...tops]).trim().split('\n');
    assert.equal(closure.filter((p) => p.endsWith('.drv')).length, 11);
    const app = closure.filter((p) => p.endsWith('-example-app.drv'));
    assert.equal(app.length, 1);
    const appOutput = nixOk('nix-store', ['--store', root, '-q', '--outputs', app[0]!]).trim();
    const appRefs = nixOk('nix-store', ['--store', root, '-q', '--references', appOutput]).trim().split('\n');
    assert.deepEqual(appRefs.map((p) => p.replace(/^\/nix\/store\/[0-9a-z]{32}-/, '')).sort(), ['example-config', 'liba', 'libb']);
  });
});
