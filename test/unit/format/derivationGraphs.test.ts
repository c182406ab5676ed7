import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checkDerivationOutputs,
  derivationStorePath,
  drvNameFromPath,
  fillDerivationOutputs,
  hashDerivationModulo,
  parseDerivation,
  printDerivation,
  type Derivation,
} from '../../../src/format/derivation/index.js';
import { fixture } from '../../support/fixtures.js';

/** drv path -> file bytes for one copied bench workload. */
function loadGraph(name: string): Map<string, Buffer> {
  const dir = fixture(`drv-graphs/${name}`);
  const files = new Map<string, Buffer>();
  for (const file of readdirSync(dir)) files.set(`/nix/store/${file}`, readFileSync(join(dir, file)));
  return files;
}

/** A readDrv over a graph that counts how often each path is read. */
function counter(files: Map<string, Buffer>): { readDrv: (p: string) => Derivation; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const readDrv = (p: string): Derivation => {
    const bytes = files.get(p);
    if (!bytes) throw new Error(`derivation ${p} is not in the graph`);
    reads.set(p, (reads.get(p) ?? 0) + 1);
    return parseDerivation(bytes, p);
  };
  return { readDrv, reads };
}

describe('derivation graphs of the bench workloads (copied in test/fixtures/drv-graphs)', () => {
  for (const [name, size] of [
    ['deep', 200],
    ['tree', 74],
    ['layered', 81],
  ] as const) {
    describe(name, () => {
      const files = loadGraph(name);
      const top = readFileSync(fixture(`drv-graphs/${name}.top`), 'utf8').trim();

      it(`holds the ${size} derivations of the closure of its top`, () => {
        assert.equal(files.size, size);
        assert.ok(files.has(top));
      });

      it('recomputes every drv path and every recorded output path and env var', () => {
        const { readDrv } = counter(files);
        const cache = new Map();
        for (const [drvPath, bytes] of files) {
          const drv = parseDerivation(bytes, drvPath);
          assert.ok(printDerivation(drv).equals(bytes), `${drvPath} does not round trip`);
          assert.equal(derivationStorePath(drv, drvNameFromPath(drvPath)), drvPath);
          checkDerivationOutputs(drv, drvPath, readDrv, undefined, cache);
        }
      });

      it('reads each input once when hashing the top with a cold cache', () => {
        const { readDrv, reads } = counter(files);
        hashDerivationModulo(readDrv(top), true, readDrv);
        reads.delete(top);
        assert.equal(reads.size, files.size - 1);
        assert.deepEqual(new Set(reads.values()), new Set([1]));
      });
    });
  }

  it('hashes a chain of 20000 derivations without recursion and without recomputing', function () {
    this.timeout(60_000);
    const drvs = new Map<string, Derivation>();
    const readDrv = (p: string): Derivation => drvs.get(p)!;
    const cache = new Map();
    let previous: string | undefined;
    for (let i = 0; i < 20_000; i++) {
      const drv = fillDerivationOutputs(
        {
          outputs: new Map([['out', { path: '', hashAlgo: '', hash: '' }]]),
          inputDrvs: previous ? new Map([[previous, ['out']]]) : new Map(),
          inputSrcs: [],
          platform: 'x86_64-linux',
          builder: '/bin/sh',
          args: ['-c', 'echo > $out'],
          env: new Map([['name', `c${i}`]]),
        },
        `c${i}`,
        readDrv,
        undefined,
        cache,
      );
      previous = derivationStorePath(drv, `c${i}`);
      drvs.set(previous, drv);
    }
    let reads = 0;
    const counting = (p: string): Derivation => {
      reads++;
      return readDrv(p);
    };
    const cold = hashDerivationModulo(drvs.get(previous!)!, true, counting);
    assert.equal(reads, 19_999);
    assert.ok(cold.equals(hashDerivationModulo(drvs.get(previous!)!, true, readDrv, cache)));
  });

  it('reports a derivation that depends on itself instead of looping', () => {
    const loop: Derivation = {
      outputs: new Map([['out', { path: '/nix/store/o', hashAlgo: '', hash: '' }]]),
      inputDrvs: new Map([['/nix/store/loop.drv', ['out']]]),
      inputSrcs: [],
      platform: 'x86_64-linux',
      builder: '/bin/sh',
      args: [],
      env: new Map(),
    };
    assert.throws(() => hashDerivationModulo(loop, true, () => loop), /derivation '\/nix\/store\/loop.drv' depends on itself/);
  });
});
