import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { buildScript, logValue, makeTestStore, type TestStore } from './support/testStore.js';

/** Every file's bytes and every symlink's target under `path`, where references can hide. */
function contentsOf(path: string): string[] {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return [readlinkSync(path)];
  if (stat.isFile()) return [readFileSync(path, 'latin1')];
  return readdirSync(path).flatMap((name) => contentsOf(join(path, name)));
}

/** The closure of `paths` in the test store, by scanning for the hash parts of its paths as Nix does. */
function scanClosure(store: TestStore, paths: string[]): string[] {
  const candidates = readdirSync(store.realStoreDir).map((base) => ({ hashPart: base.slice(0, 32), path: `${store.storeDir}/${base}` }));
  const closure = new Set<string>();
  const queue = [...paths];
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    if (closure.has(path)) continue;
    closure.add(path);
    const contents = contentsOf(join(store.realStoreDir, path.slice(store.storeDir.length + 1)));
    for (const candidate of candidates) {
      if (candidate.path !== path && contents.some((text) => text.includes(candidate.hashPart))) queue.push(candidate.path);
    }
  }
  return [...closure];
}

describe('sandbox: a store path in sandbox-paths brings its closure, and nothing else', function () {
  this.timeout(60000);
  let store: TestStore;
  let dependency: string;
  let tool: string;
  let unrelated: string;
  before(() => {
    store = makeTestStore();
    dependency = store.addFile('dep-b', 'data', 'from B\n');
    tool = store.addFile('tool-a', 'ref', `${dependency}\n`);
    unrelated = store.addFile('unrelated-c', 'data', 'from C\n');
  });
  after(() => store.destroy());

  const script = (): string =>
    [
      'echo "ref=$(cat /opt/tool/ref)"',
      `echo "b=$(cat ${dependency}/data)"`,
      `echo "a=$(cat ${tool}/ref)"`,
      `cat ${unrelated}/data; echo "c=$?"`,
      `test -e ${unrelated}; echo "cexists=$?"`,
      'touch $out',
    ].join('\n');

  it('the builder reads the path named in sandbox-paths, the path it refers to, and not an unrelated one', async () => {
    const asked: string[][] = [];
    const given: string[][] = [];
    const { result, log } = await buildScript(store, script(), {
      settings: { sandboxPaths: [`/opt/tool=${tool}`] },
      extra: {
        closureOf: (paths) => {
          asked.push(paths);
          const closure = scanClosure(store, paths);
          given.push(closure);
          return closure;
        },
      },
    });
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.deepEqual(asked, [[tool]]);
    assert.deepEqual([...given[0]!].sort(), [dependency, tool].sort(), 'the scan did not find the reference');
    assert.equal(logValue(log, 'ref'), dependency);
    assert.equal(logValue(log, 'b'), 'from B');
    assert.equal(logValue(log, 'a'), dependency);
    assert.equal(logValue(log, 'c'), '1');
    assert.equal(logValue(log, 'cexists'), '1');
    assert.ok(!log.includes('from C'), log.join('\n'));
  });

  it('without the sandbox-path, neither it nor what it refers to is there', async () => {
    const { result, log } = await buildScript(store, script());
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(logValue(log, 'ref'), '');
    assert.equal(logValue(log, 'b'), '');
    assert.equal(logValue(log, 'a'), '');
    assert.equal(logValue(log, 'cexists'), '1');
  });
});
