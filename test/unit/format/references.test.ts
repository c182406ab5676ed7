import assert from 'node:assert/strict';
import { ReferenceScanner } from '../../../src/format/references.js';

const A = 'dzlyqx2ian7g7d3q7c82f62y9gabffbn';
const B = 'mxzxqjhhdimzlhlil55ba8gp6zrgcbhz';
const C = '8awlk6rgzynhczrf7mwqjfk93zbcldl6';

describe('reference scanner', () => {
  it('finds hash parts that occur and only those', () => {
    const s = new ReferenceScanner([A, B, C]);
    s.update(Buffer.from(`\x00\x01/nix/store/${A}-simple/bin\nsome text ${C}`));
    assert.deepEqual([...s.result()].sort(), [C, A].sort());
  });
  it('finds a hash part split across chunks at every position', () => {
    const text = Buffer.from(`xx/nix/store/${B}-bbdir yy`);
    for (let cut = 1; cut < text.length; cut++) {
      const s = new ReferenceScanner([B]);
      s.update(text.subarray(0, cut));
      s.update(text.subarray(cut));
      assert.deepEqual([...s.result()], [B], `cut at ${cut}`);
    }
  });
  it('finds a hash part split over many one-byte chunks', () => {
    const s = new ReferenceScanner([A]);
    for (const b of Buffer.from(`..${A}..`)) s.update(Buffer.from([b]));
    assert.deepEqual([...s.result()], [A]);
  });
  it('does not report a hash that appears with one character changed', () => {
    const s = new ReferenceScanner([A]);
    s.update(Buffer.from(A.slice(0, 31) + '0'));
    assert.equal(s.result().size, 0);
  });
});
