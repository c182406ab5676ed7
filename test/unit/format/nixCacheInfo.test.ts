import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { NixCacheInfoFormatError, parseNixCacheInfo, serializeNixCacheInfo } from '../../../src/format/nixCacheInfo.js';
import { fixture } from '../../support/fixtures.js';

describe('nix-cache-info', () => {
  for (const cache of ['cache-none', 'cache-xz']) {
    it(`reads and writes back the one nix copy wrote (${cache})`, () => {
      const text = readFileSync(fixture(`binary-cache/${cache}/nix-cache-info`), 'utf8');
      const info = parseNixCacheInfo(text, cache);
      assert.deepEqual(info, { storeDir: '/nix/store', wantMassQuery: false });
      assert.equal(serializeNixCacheInfo(info), text);
    });
  }

  it("reads cache.nixos.org's, with every field", () => {
    const text = 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n';
    const info = parseNixCacheInfo(text, 'https://cache.nixos.org/nix-cache-info');
    assert.deepEqual(info, { storeDir: '/nix/store', wantMassQuery: true, priority: 40 });
    assert.equal(serializeNixCacheInfo(info), text);
  });

  it('is lenient as Nix is: trimmed values, lines without a colon and unknown keys skipped', () => {
    const info = parseNixCacheInfo('junk\nStoreDir:/nix/store  \nFuture: x\nWantMassQuery: 0\nPriority: -3', 'c');
    assert.deepEqual(info, { storeDir: '/nix/store', wantMassQuery: false, priority: -3 });
    assert.deepEqual(parseNixCacheInfo('', 'c'), { wantMassQuery: false });
  });

  it('rejects a Priority that is not an integer, naming the file and field', () => {
    assert.throws(
      () => parseNixCacheInfo('Priority: high\n', 'file:///c/nix-cache-info'),
      (e: unknown) => e instanceof NixCacheInfoFormatError && /'file:\/\/\/c\/nix-cache-info': field 'Priority': 'high'/.test(e.message),
    );
  });

  it('rejects a StoreDir that is not absolute', () => {
    assert.throws(() => parseNixCacheInfo('StoreDir: nix/store\n', 'c'), NixCacheInfoFormatError);
  });
});
