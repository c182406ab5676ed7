/**
 * `tsnix-store --add-drv` on a temporary store: .drv files and `nix show-derivation` JSON go
 * in with their inputs first, and bad input is one line naming the file and adds nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { derivation, outputOf, writeDerivations, type DerivationHandle } from '../../src/build/derivationApi.js';
import { blankOutputs, printDerivation, printDerivationJson } from '../../src/format/derivation/index.js';
import { AddDerivationError, addDerivation } from '../../src/store/addDerivation.js';
import { LocalStore } from '../../src/store/localStore.js';
import { Settings } from '../../src/store/settings.js';
import { tempDir, tsnixStore, tsnixStoreOk } from '../support/cli.js';

interface Setup {
  root: string;
  files: string;
  source: string;
  lib: DerivationHandle;
  app: DerivationHandle;
  fetched: DerivationHandle;
}

/** A store holding one source path, and three derivations on it (not added yet). */
async function setup(): Promise<Setup> {
  const root = tempDir('tsnix-adddrv-');
  const files = tempDir('tsnix-adddrv-files-');
  mkdirSync(join(files, 'scripts'));
  writeFileSync(join(files, 'scripts', 'build.sh'), 'echo building\n');
  const source = (await tsnixStoreOk(['--store', root, '--add', join(files, 'scripts')])).trim();
  const lib = derivation({ name: 'lib', builder: `${source}/build.sh`, outputs: ['out', 'dev'], inputs: [source] });
  const app = derivation({
    name: 'app',
    builder: `${source}/build.sh`,
    env: { lib: lib.out, headers: lib.outputs['dev']! },
    inputs: [source, lib, outputOf(lib, 'dev')],
  });
  const fetched = derivation({ name: 'fetched', builder: '/bin/sh', outputHash: 'sha256-WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=' });
  return { root, files, source, lib, app, fetched };
}

/** Writes the ATerm of `handle` to FILES/NAME (default: its store path's base name). */
function writeDrvFile(s: Setup, handle: DerivationHandle, name = basename(handle.drvPath)): string {
  const file = join(s.files, name);
  writeFileSync(file, printDerivation(handle.drv));
  return file;
}

function writeJson(s: Setup, handles: DerivationHandle[], name = 'drvs.json'): string {
  const file = join(s.files, name);
  writeFileSync(file, printDerivationJson(new Map(handles.map((h) => [h.drvPath, h.drv]))));
  return file;
}

async function validOf(s: Setup, paths: string[]): Promise<string[]> {
  const r = await tsnixStore(['--store', s.root, '--check-validity', '--print-invalid', ...paths]);
  const invalid = new Set(r.stdout.toString().split('\n').filter((l) => l !== ''));
  return paths.filter((p) => !invalid.has(p));
}

/** The store directory's entries: a refused addition leaves no file behind either. */
function storeEntries(s: Setup): string[] {
  return readdirSync(join(s.root, 'nix/store')).sort();
}

function assertOneLineError(stderr: string, ...patterns: RegExp[]): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0]!, /^error: /);
  for (const pattern of patterns) assert.match(lines[0]!, pattern);
}

describe('tsnix-store --add-drv', () => {
  it('adds .drv files given users first, inputs first, printing each path in argument order', async () => {
    const s = await setup();
    const files = [writeDrvFile(s, s.app), writeDrvFile(s, s.lib, 'lib.drv'), writeDrvFile(s, s.fetched)];
    const out = await tsnixStoreOk(['--store', s.root, '--add-drv', ...files]);
    assert.equal(out, `${s.app.drvPath}\n${s.lib.drvPath}\n${s.fetched.drvPath}\n`);
    const refs = await tsnixStoreOk(['--store', s.root, '-q', '--references', s.app.drvPath]);
    assert.deepEqual(refs.trim().split('\n').sort(), [s.lib.drvPath, s.source].sort());
    const outputs = await tsnixStoreOk(['--store', s.root, '-q', '--outputs', s.lib.drvPath]);
    assert.deepEqual(outputs.trim().split('\n').sort(), [s.lib.outputs['dev'], s.lib.out].sort());
    const verify = await tsnixStore(['--store', s.root, '--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
  });

  it('adding a derivation again changes nothing and prints its path again', async () => {
    const s = await setup();
    const file = writeDrvFile(s, s.lib);
    await tsnixStoreOk(['--store', s.root, '--add-drv', file]);
    const entries = storeEntries(s);
    assert.equal(await tsnixStoreOk(['--store', s.root, '--add-drv', file]), `${s.lib.drvPath}\n`);
    assert.deepEqual(storeEntries(s), entries);
  });

  it('adds every entry of nix show-derivation JSON', async () => {
    const s = await setup();
    const file = writeJson(s, [s.app, s.lib, s.fetched]);
    const out = await tsnixStoreOk(['--store', s.root, '--add-drv', file]);
    assert.deepEqual(out.trim().split('\n').sort(), [s.app.drvPath, s.lib.drvPath, s.fetched.drvPath].sort());
    assert.deepEqual(await validOf(s, [s.app.drvPath, s.lib.drvPath, s.fetched.drvPath]), [s.app.drvPath, s.lib.drvPath, s.fetched.drvPath]);
    // The same derivation as ATerm is the same path.
    assert.equal(await tsnixStoreOk(['--store', s.root, '--add-drv', writeDrvFile(s, s.app)]), `${s.app.drvPath}\n`);
  });

  describe('refuses bad input with one line naming the file, and adds nothing', () => {
    const refuse = async (s: Setup, files: string[], ...patterns: RegExp[]): Promise<void> => {
      const entries = storeEntries(s);
      const r = await tsnixStore(['--store', s.root, '--add-drv', ...files]);
      assert.equal(r.code, 1);
      assertOneLineError(r.stderr, ...patterns);
      assert.equal(r.stdout.toString(), '');
      assert.deepEqual(await validOf(s, [s.app.drvPath, s.lib.drvPath, s.fetched.drvPath]), []);
      assert.deepEqual(storeEntries(s), entries);
    };

    it('an input that is not in the store', async () => {
      const s = await setup();
      const file = writeDrvFile(s, s.app);
      await refuse(s, [writeDrvFile(s, s.fetched), file], new RegExp(`file '${file}'`), new RegExp(`input '${s.lib.drvPath}'.*not valid`));
    });

    it('a JSON key that is not the path of its derivation', async () => {
      const s = await setup();
      const json = JSON.parse(writeJsonText(s, [s.lib, s.fetched])) as Record<string, unknown>;
      const wrongKey = s.fetched.drvPath.replace(/-fetched\.drv$/, '-other.drv');
      json[wrongKey] = json[s.fetched.drvPath];
      delete json[s.fetched.drvPath];
      const file = join(s.files, 'wrong-key.json');
      writeFileSync(file, JSON.stringify(json));
      await refuse(s, [file], new RegExp(`file '${file}'`), new RegExp(`derivation's path is '[^']+', not the expected '${wrongKey}'`));
    });

    it('a JSON field of the wrong type', async () => {
      const s = await setup();
      const json = JSON.parse(writeJsonText(s, [s.lib])) as Record<string, Record<string, unknown>>;
      json[s.lib.drvPath]!['args'] = 'not a list';
      const file = join(s.files, 'bad-field.json');
      writeFileSync(file, JSON.stringify(json));
      await refuse(s, [file], new RegExp(`'${file}'`), /args must be an array/);
    });

    it('an output path that is not the one its derivation gives', async () => {
      const s = await setup();
      const wrong = s.lib.drv.env.get('out')!.replace(/-lib$/, '-lib2');
      const file = join(s.files, 'wrong-output.drv');
      writeFileSync(file, printDerivation(s.lib.drv).toString('utf8').replaceAll(s.lib.out, wrong));
      await refuse(s, [file], new RegExp(`file '${file}'`), /has incorrect output/);
    });

    it('a truncated .drv file', async () => {
      const s = await setup();
      const file = join(s.files, 'cut.drv');
      writeFileSync(file, printDerivation(s.lib.drv).subarray(0, 40));
      await refuse(s, [writeDrvFile(s, s.fetched), file], new RegExp(file));
    });

    it('a .drv file named for one store path holding another', async () => {
      const s = await setup();
      const file = join(s.files, basename(s.lib.drvPath));
      writeFileSync(file, printDerivation(s.fetched.drv));
      await refuse(s, [file], new RegExp(`file '${file}'`), new RegExp(`derivation's path is '[^']+', not the expected '${s.lib.drvPath}'`));
    });
  });
});

function writeJsonText(_s: Setup, handles: DerivationHandle[]): string {
  return printDerivationJson(new Map(handles.map((h) => [h.drvPath, h.drv]))).toString('utf8');
}

describe('writeDerivations', () => {
  it('writes the handles and their inputs, inputs first, and a second time nothing', async () => {
    const s = await setup();
    const store = await LocalStore.open({ root: s.root, settings: new Settings() });
    try {
      const written = await writeDerivations(store, [s.app, s.fetched]);
      assert.deepEqual(written, [s.lib.drvPath, s.app.drvPath, s.fetched.drvPath]);
      const entries = storeEntries(s);
      assert.deepEqual(await writeDerivations(store, [s.app]), [s.lib.drvPath, s.app.drvPath]);
      assert.deepEqual(storeEntries(s), entries);
    } finally {
      await store.close();
    }
    assert.deepEqual(await validOf(s, [s.app.drvPath, s.lib.drvPath, s.fetched.drvPath]), [s.app.drvPath, s.lib.drvPath, s.fetched.drvPath]);
  });
});

describe('addDerivation', () => {
  it('refuses a derivation whose outputs were never filled in, naming the output', async () => {
    const s = await setup();
    const store = await LocalStore.open({ root: s.root, settings: new Settings() });
    try {
      const entries = storeEntries(s);
      await assert.rejects(addDerivation(store, blankOutputs(s.lib.drv)), (e: unknown) => e instanceof AddDerivationError && /no path for output 'out'/.test(e.message));
      assert.deepEqual(storeEntries(s), entries);
    } finally {
      await store.close();
    }
  });

  it('with expectedPath, refuses a derivation stored elsewhere, naming both paths', async () => {
    const s = await setup();
    const store = await LocalStore.open({ root: s.root, settings: new Settings() });
    try {
      await assert.rejects(
        addDerivation(store, s.fetched.drv, { expectedPath: s.fetched.drvPath.replace('fetched', 'fetchee') }),
        (e: unknown) => e instanceof AddDerivationError && e.message.includes(s.fetched.drvPath.replace('fetched', 'fetchee')) && /is '\/nix\/store\/[0-9a-z]{32}-fetchee\.drv'/.test(e.message),
      );
      assert.equal(await addDerivation(store, s.fetched.drv, { expectedPath: s.fetched.drvPath }), s.fetched.drvPath);
    } finally {
      await store.close();
    }
  });
});
