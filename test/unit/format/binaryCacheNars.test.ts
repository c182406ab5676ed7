/**
 * The NARs of the binary-cache vectors (vectors/binary-cache/cache-none, written by `nix
 * copy`): each parses completely with our parser, has the size and sha256 its narinfo
 * states, its `.ls` listing's offsets are where our parser finds the file contents, and a
 * content-addressed path's name follows from its `CA:` field. (Narinfo signing, compression
 * and substitution are the binary-cache issue's.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { contentAddressPath, parseContentAddress } from '../../../src/format/contentAddress.js';
import { Hash } from '../../../src/format/hash.js';
import { parseNar } from '../../../src/format/nar/index.js';
import { parseStorePath } from '../../../src/format/storePath.js';
import { fixture } from '../../support/fixtures.js';

function narinfoFields(text: string): Map<string, string> {
  return new Map(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}

/** Path in the NAR -> { offset, size } of every regular file, as our parser reports them. */
async function regularFiles(nar: Buffer): Promise<Map<string, { narOffset: number; size: number }>> {
  const found = new Map<string, { narOffset: number; size: number }>();
  const stack: string[] = [];
  let name = '';
  for await (const event of parseNar([nar])) {
    if (event.type === 'entry') name = event.name.toString();
    else if (event.type === 'directory') stack.push(name);
    else if (event.type === 'directoryEnd') stack.pop();
    else if (event.type === 'regular') found.set([...stack, name].filter((s) => s).join('/'), { narOffset: event.contentsOffset, size: event.size });
  }
  return found;
}

interface Listing {
  type: string;
  size?: number;
  narOffset?: number;
  entries?: Record<string, Listing>;
}

function listedFiles(node: Listing, prefix = '', out = new Map<string, { narOffset: number; size: number }>()): Map<string, { narOffset: number; size: number }> {
  if (node.type === 'regular') out.set(prefix, { narOffset: node.narOffset!, size: node.size! });
  for (const [child, sub] of Object.entries(node.entries ?? {})) listedFiles(sub, prefix ? `${prefix}/${child}` : child, out);
  return out;
}

describe('binary-cache vector NARs (vectors/binary-cache/cache-none)', () => {
  const dir = fixture('binary-cache/cache-none');
  const narinfos = readdirSync(dir).filter((f) => f.endsWith('.narinfo'));
  it('has the five paths nix copied', () => assert.equal(narinfos.length, 5));
  for (const file of narinfos) {
    it(`${file}: NAR size, hash, listing offsets and content address agree`, async () => {
      const info = narinfoFields(readFileSync(`${dir}/${file}`, 'utf8'));
      const nar = readFileSync(`${dir}/${info.get('URL')}`);
      assert.equal(nar.length, Number(info.get('NarSize')));
      const narHash = new Hash('sha256', createHash('sha256').update(nar).digest());
      assert.ok(narHash.equals(Hash.parse(info.get('NarHash')!)));
      const ours = await regularFiles(nar);
      const listing = JSON.parse(readFileSync(`${dir}/${file.replace('.narinfo', '.ls')}`, 'utf8')) as { root: Listing };
      assert.deepEqual(ours, listedFiles(listing.root));
      const storePath = info.get('StorePath')!;
      const ca = info.get('CA');
      if (ca) {
        const references = (info.get('References') ?? '').split(' ').filter((r) => r).map((r) => `/nix/store/${r}`);
        assert.equal(contentAddressPath(parseContentAddress(ca), parseStorePath(storePath).name, references, storePath), storePath);
      }
    });
  }
});
