/** The export vectors real nix wrote: tsnix imports them and exports the very same bytes. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeExportTrailer, EXPORT_END, EXPORT_NEXT } from '../../src/format/exportFormat.js';
import { encodeString, encodeU64 } from '../../src/format/wire.js';
import { tempDir, tsnixStore, tsnixStoreOk } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';

const SIMPLE = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple';
const WITH_REF = '/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref';

/** The NAR of a regular file, built from tokens. */
function fileNar(contents: string): Buffer {
  return Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents', contents, ')'].map((t) => encodeString(t)));
}

describe('export vectors (vectors/export)', () => {
  it('a-b.export imports as a.txt then b.txt and exports back byte for byte', async () => {
    const root = tempDir();
    const vector = readFileSync(fixture('export/a-b.export'));
    const imported = await tsnixStoreOk(['--store', root, '--import'], { input: vector });
    assert.equal(imported, '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt\n/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt\n');
    // Named in the other order on purpose: export writes dependencies first.
    const r = await tsnixStore(['--store', root, '--export', '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt', '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(vector), 'export equals the vector');
  });

  it('a stream naming its paths twice lists them twice, imports them once and leaves nothing else in the store', async () => {
    const root = tempDir();
    const vector = readFileSync(fixture('export/a-b.export'));
    // The vector without its end marker, then the vector again.
    const twice = Buffer.concat([vector.subarray(0, vector.length - 8), vector]);
    const a = '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt';
    const b = '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt';
    assert.equal(await tsnixStoreOk(['--store', root, '--import'], { input: twice }), `${a}\n${b}\n${a}\n${b}\n`);
    assert.equal(await tsnixStoreOk(['--store', root, '--check-validity', '--print-invalid', a, b]), '');
    assert.deepEqual(readdirSync(join(root, 'nix/store')).sort(), [a, b].map((p) => p.slice('/nix/store/'.length)).sort());
    const r = await tsnixStore(['--store', root, '--export', b, a]);
    assert.ok(r.stdout.equals(vector), 'export equals the vector');
  });

  it('with-ref.export keeps its deriver and reference through import and export', async () => {
    const root = tempDir();
    // Its reference, the output of simple.drv ("hello\n"), first.
    const simple = Buffer.concat([EXPORT_NEXT, fileNar('hello\n'), encodeExportTrailer({ path: SIMPLE, references: [], deriver: '' }), EXPORT_END]);
    await tsnixStoreOk(['--store', root, '--import'], { input: simple });
    const vector = readFileSync(fixture('export/with-ref.export'));
    assert.equal(await tsnixStoreOk(['--store', root, '--import'], { input: vector }), `${WITH_REF}\n`);
    assert.equal(await tsnixStoreOk(['--store', root, '-q', '--deriver', WITH_REF]), '/nix/store/m0vq8cw83izvmq55vjzij09fjn4xlfp0-with-ref.drv\n');
    assert.equal(await tsnixStoreOk(['--store', root, '-q', '--references', WITH_REF]), `${SIMPLE}\n`);
    const r = await tsnixStore(['--store', root, '--export', WITH_REF]);
    assert.ok(r.stdout.equals(vector), 'export equals the vector');
  });

  it('the wire framing of the vectors: u64 little-endian and zero-padded strings', () => {
    const vector = readFileSync(fixture('export/a-b.export'));
    assert.ok(vector.subarray(0, 8).equals(encodeU64(1)));
    assert.ok(vector.subarray(8, 8 + 24).equals(encodeString('nix-archive-1')));
    assert.ok(vector.subarray(vector.length - 8).equals(encodeU64(0)));
  });
});
