import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NarFormatError } from '../../../src/format/errors.js';
import { WireReader } from '../../../src/format/wire.js';
import {
  CaseHackCollisionError,
  CaseHackRenamer,
  encodeNar,
  encodeNarTokens,
  parseNar,
  readNarTree,
  unhackDirectory,
  unhackName,
  type NarEvent,
  type NarNode,
} from '../../../src/format/nar/index.js';
import { fixture } from '../../support/fixtures.js';
import { BAD_NARS, directory, nar, regular, symlink } from './narCases.js';

const VECTORS = ['01-regular.txt', '02-exec.sh', '03-symlink', '04-empty-file', '05-empty-dir', '06-tree', '07-sorting', '08-binary'];

const vector = (name: string): Buffer => readFileSync(fixture(`nar/${name}.nar`));

/** Splits bytes into small uneven chunks, as a socket might deliver them. */
function* dribble(bytes: Buffer, size = 7): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function events(bytes: Buffer): Promise<NarEvent[]> {
  const out: NarEvent[] = [];
  for await (const event of parseNar(dribble(bytes))) out.push(event);
  return out;
}

async function parseError(bytes: Buffer): Promise<Error> {
  try {
    for await (const event of parseNar([bytes])) void event;
  } catch (err) {
    return err as Error;
  }
  throw new Error('the NAR was accepted');
}

describe('NAR encoder and parser (vectors/nar)', () => {
  it('encodes a 13-byte file as the 128 bytes of spec/nar.md section 2', () => {
    const bytes = encodeNar({ type: 'regular', executable: false, contents: Buffer.from('Hello, world\n') });
    assert.equal(bytes.length, 128);
    assert.deepEqual(bytes, vector('01-regular.txt'));
  });

  for (const name of VECTORS) {
    it(`reads ${name}.nar into a tree and encodes it back byte for byte`, async () => {
      const tree = await readNarTree(dribble(vector(name), 5));
      assert.deepEqual(encodeNar(tree), vector(name));
    });
  }

  it('sorts entries byte-wise when encoding, as in 07-sorting', async () => {
    const tree = (await readNarTree([vector('07-sorting')])) as Extract<NarNode, { type: 'directory' }>;
    const names = tree.entries.map((e) => e.name.toString('utf8'));
    assert.deepEqual(names, ['0', '9', 'A', 'B', 'Z', '_', 'a', 'a-b', 'a.b', 'aa', 'ab', 'b', 'z', 'é']);
    const shuffled: NarNode = { type: 'directory', entries: [...tree.entries].reverse() };
    assert.deepEqual(encodeNar(shuffled), vector('07-sorting'));
  });

  it('yields directory, entry, file and symlink events in NAR order', async () => {
    const list = await events(vector('06-tree'));
    const summary = list.map((e) =>
      e.type === 'entry' ? `entry ${e.name}` : e.type === 'regular' ? `regular ${e.size}${e.executable ? ' x' : ''}` : e.type === 'symlink' ? `symlink ${e.target}` : e.type,
    );
    assert.deepEqual(summary, [
      'directory',
      'entry a.txt',
      'regular 3',
      'entry emptydir',
      'directory',
      'directoryEnd',
      'entry link-to-a',
      'symlink a.txt',
      'entry sub',
      'directory',
      'entry deeper',
      'directory',
      'entry empty',
      'regular 0',
      'directoryEnd',
      'entry eight-bytes',
      'regular 8',
      'entry run',
      'regular 17 x',
      'directoryEnd',
      'directoryEnd',
    ]);
  });

  it('gives the offset of each file payload (the .ls narOffset)', async () => {
    const bytes = vector('06-tree');
    for await (const event of parseNar([bytes])) {
      if (event.type !== 'regular') continue;
      const chunks: Buffer[] = [];
      for await (const chunk of event.contents) chunks.push(Buffer.from(chunk));
      assert.deepEqual(Buffer.concat(chunks), bytes.subarray(event.contentsOffset, event.contentsOffset + event.size));
    }
  });

  it('streams the contents of a large file chunk by chunk as they arrive', async () => {
    const contents = Buffer.alloc(256 * 1024, 0x61);
    const sizes: number[] = [];
    for await (const event of parseNar(dribble(nar(regular(contents)), 4096))) {
      if (event.type === 'regular') for await (const chunk of event.contents) sizes.push(chunk.length);
    }
    assert.ok(sizes.length >= 63, `expected many chunks, got ${sizes.length}`);
    assert.ok(Math.max(...sizes) <= 4096);
    assert.equal(sizes.reduce((a, b) => a + b, 0), contents.length);
  });

  it('skips file contents the consumer does not read', async () => {
    const bytes = nar(directory(['a', regular('skipped')], ['b', symlink('t')]));
    const list = await events(bytes);
    assert.deepEqual(
      list.map((e) => e.type),
      ['directory', 'entry', 'regular', 'entry', 'symlink', 'directoryEnd'],
    );
  });

  it('consumes exactly the NAR and leaves what follows in the reader', async () => {
    const reader = new WireReader(dribble(Buffer.concat([vector('06-tree'), encodeNarTokens(['after'])]), 3));
    const consumed: Buffer[] = [];
    reader.onConsume = (bytes) => consumed.push(Buffer.from(bytes));
    for await (const event of parseNar(reader)) void event;
    assert.equal(reader.position, vector('06-tree').length);
    assert.deepEqual(Buffer.concat(consumed), vector('06-tree'));
    assert.equal(await reader.readString(), 'after');
  });

  it('parses 100,000 nested directories without exhausting the stack', async () => {
    const depth = 100_000;
    const level = encodeNarTokens(['entry', '(', 'name', 'd', 'node', '(', 'type', 'directory']);
    const close = encodeNarTokens([')', ')']);
    const parts = [encodeNarTokens(['nix-archive-1', '(', 'type', 'directory'])];
    for (let i = 0; i < depth; i++) parts.push(level);
    parts.push(encodeNarTokens([')']));
    for (let i = 0; i < depth; i++) parts.push(close);
    let deepest = 0;
    let open = 0;
    for await (const event of parseNar([Buffer.concat(parts)])) {
      if (event.type === 'directory') deepest = Math.max(deepest, ++open);
      if (event.type === 'directoryEnd') open--;
    }
    assert.equal(deepest, depth + 1);
    assert.equal(open, 0);
  });

  it('refuses directories nested deeper than maxDepth with a clear message', async () => {
    const bytes = nar(directory(['a', directory(['b', directory()])]));
    await assert.rejects(async () => {
      for await (const event of parseNar([bytes], { maxDepth: 2 })) void event;
    }, /directories are nested more than 2 levels deep/);
  });

  describe('rejects malformed NARs with a one-line NarFormatError naming the offset', () => {
    for (const bad of BAD_NARS) {
      it(`rejects ${bad.what}`, async () => {
        const err = await parseError(bad.bytes);
        assert.ok(err instanceof NarFormatError, `${err.name}: ${err.message}`);
        assert.match(err.message, bad.error);
        assert.ok(!err.message.includes('\n'), 'one line');
      });
    }
  });

  it('reports a truncated NAR, wherever it is cut, as truncated', async () => {
    const bytes = vector('06-tree');
    for (let cut = 0; cut < bytes.length; cut += 5) {
      const err = await parseError(bytes.subarray(0, cut));
      assert.match(err.message, /NAR is truncated at offset \d+: the input ended while reading/, `cut at ${cut}`);
    }
  });

  it('refuses to encode a tree with a bad or duplicate name', () => {
    const file: NarNode = { type: 'regular', executable: false, contents: Buffer.alloc(0) };
    assert.throws(() => encodeNar({ type: 'directory', entries: [{ name: Buffer.from('a/b'), node: file }] }), /contains '\/'/);
    const twice = { type: 'directory', entries: [{ name: Buffer.from('a'), node: file }, { name: Buffer.from('a'), node: file }] } as const;
    assert.throws(() => encodeNar({ ...twice, entries: [...twice.entries] }), /duplicate entry name "a"/);
  });
});

describe('the case hack (spec/nar.md section 6, vectors/nar/case-hack.txt)', () => {
  const names = (list: string[]) => list.map((n) => Buffer.from(n));

  it('renames later case-insensitive duplicates with a per-name counter on restore', () => {
    const renamer = new CaseHackRenamer();
    const restored = names(['AB', 'Ab', 'aB', 'ab']).map((n) => renamer.rename(n).toString());
    assert.deepEqual(restored, ['AB', 'Ab~nix~case~hack~1', 'aB~nix~case~hack~2', 'ab~nix~case~hack~3']);
    const other = new CaseHackRenamer();
    assert.deepEqual(
      names(['A', 'a', 'b']).map((n) => other.rename(n).toString()),
      ['A', 'a~nix~case~hack~1', 'b'],
    );
  });

  it('folds only ASCII letters, like strcasecmp in the C locale', () => {
    const renamer = new CaseHackRenamer();
    assert.equal(renamer.rename(Buffer.from('É')).toString(), 'É');
    assert.equal(renamer.rename(Buffer.from('é')).toString(), 'é');
  });

  it('strips the marker and everything after it when dumping, and sorts by the stripped name', () => {
    assert.equal(unhackName(Buffer.from('ab~nix~case~hack~3')).toString(), 'ab');
    assert.equal(unhackName(Buffer.from('plain')).toString(), 'plain');
    const entries = unhackDirectory(names(['ab~nix~case~hack~3', 'AB', 'aB~nix~case~hack~2', 'Ab~nix~case~hack~1']), '/d');
    assert.deepEqual(
      entries.map((e) => [e.narName.toString(), e.diskName.toString()]),
      [
        ['AB', 'AB'],
        ['Ab', 'Ab~nix~case~hack~1'],
        ['aB', 'aB~nix~case~hack~2'],
        ['ab', 'ab~nix~case~hack~3'],
      ],
    );
  });

  it('refuses two on-disk names that strip to the same name', () => {
    assert.throws(
      () => unhackDirectory(names(['a', 'a~nix~case~hack~1']), '/d'),
      (err: Error) => err instanceof CaseHackCollisionError && /file name collision in between '\/d\/a' and '\/d\/a~nix~case~hack~1'/.test(err.message),
    );
  });
});
