/** `tsnix-store -r` on graphs of derivations: the right outputs, references, and failures as nix reports them. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import type { DerivationHandle } from '../../../src/build/derivationApi.js';
import { BuildStore } from '../../support/buildStore.js';

function lines(text: string | Buffer): string[] {
  return text.toString().split('\n').filter((l) => l !== '');
}

describe('tsnix-store -r: graphs', function () {
  this.timeout(120000);
  let bs: BuildStore;
  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs.remove());

  it('builds a wide graph: every leaf once, and the top refers to each leaf', async () => {
    const leaves = Array.from({ length: 12 }, (_, i) => bs.drv(`leaf${i}`, `echo leaf ${i} > $out`));
    const top = bs.drv('top', `echo ${leaves.map((l) => l.out).join(' ')} > $out`, leaves);
    await bs.write([top]);
    const r = await bs.run(['-r', '-j2', top.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [top.out]);
    assert.equal(lines(r.stderr).filter((l) => l.startsWith('building ')).length, 13);
    assert.match(r.stderr, /these 13 derivations will be built:/);
    assert.equal(readFileSync(bs.real(leaves[3]!.out), 'utf8'), 'leaf 3\n');
    const refs = lines((await bs.run(['-q', '--references', top.out])).stdout);
    assert.deepEqual(refs, leaves.map((l) => l.out).sort());
  });

  it('builds a deep chain in order, each link referring to the one below', async () => {
    let below: DerivationHandle = bs.drv('link0', 'echo 0 > $out');
    const chain = [below];
    for (let i = 1; i < 15; i++) {
      below = bs.drv(`link${i}`, `read n < ${below.out}; echo $((n + 1)) > $out; echo ${below.out} >> $out`, [below]);
      chain.push(below);
    }
    await bs.write([below]);
    const r = await bs.run(['-r', below.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(bs.real(below.out), 'utf8'), `14\n${chain[13]!.out}\n`);
    const requisites = lines((await bs.run(['-q', '-R', below.out])).stdout);
    assert.deepEqual(new Set(requisites), new Set(chain.map((c) => c.out)));
    const started = lines(r.stderr).filter((l) => l.startsWith('building ')).map((l) => l.slice("building '".length, -"'...".length));
    assert.deepEqual(started, chain.map((c) => c.drvPath));
  });

  it('builds a diamond once at the bottom, with both sides and the top referring correctly', async () => {
    const base = bs.drv('base', 'echo base > $out');
    const left = bs.drv('left', `echo left $(cat ${base.out}) ${base.out} > $out`, [base]);
    const right = bs.drv('right', `echo right > $out`, [base]);
    const top = bs.drv('top', `cat ${left.out} ${right.out} > $out; echo ${left.out} ${right.out} >> $out`, [left, right]);
    await bs.write([top]);
    const r = await bs.run(['-r', '-j2', top.drvPath, `${left.drvPath}!out`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [top.out, left.out]);
    assert.equal(lines(r.stderr).filter((l) => l === `building '${base.drvPath}'...`).length, 1);
    assert.deepEqual(lines((await bs.run(['-q', '--references', left.out])).stdout), [base.out]);
    assert.deepEqual(lines((await bs.run(['-q', '--references', right.out])).stdout), [], 'right only depends on base at build time');
    // Top's output copies left's, which names base.
    assert.deepEqual(lines((await bs.run(['-q', '--references', top.out])).stdout), [base.out, left.out, right.out].sort());
    assert.equal(lines((await bs.run(['-q', '--deriver', top.out])).stdout)[0], top.drvPath);
    // Everything is valid now: a second run builds nothing and prints the same.
    const again = await bs.run(['-r', top.drvPath]);
    assert.equal(again.code, 0);
    assert.doesNotMatch(again.stderr, /building/);
    assert.deepEqual(lines(again.stdout), [top.out]);
  });

  it('two outputs: both registered, `DRV!dev` gives one, the references between them are recorded', async () => {
    const lib = bs.drv('lib', 'mkdir $out $dev; echo lib > $out/lib; echo $out > $dev/points-to-out', [], {}, { outputs: ['out', 'dev'] });
    await bs.write([lib]);
    const r = await bs.run(['-r', `${lib.drvPath}!dev`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [lib.outputs['dev']]);
    assert.deepEqual(lines((await bs.run(['-q', '--references', lib.outputs['dev']!])).stdout), [lib.outputs['out']]);
    assert.equal((await bs.run(['--check-validity', lib.outputs['out']!])).code, 0);
  });

  it('exportReferencesGraph and passAsFile reach the builder as files', async () => {
    const dep = bs.drv('dep', 'echo dep > $out');
    const user = bs.drv('user', `echo ${dep.out} > $out`, [dep]);
    const reader = bs.drv('reader', 'cat $NIX_BUILD_TOP/graph > $out; cat $bigPath >> $out', [user], {
      exportReferencesGraph: `graph ${user.out}`,
      big: 'passed as a file',
      passAsFile: 'big',
    });
    await bs.write([reader]);
    const r = await bs.run(['-r', reader.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(bs.real(reader.out), 'utf8');
    // Nix's registration format, paths in sorted order: path, deriver (empty), count, references.
    const blocks = [`${dep.out}\n\n0\n`, `${user.out}\n\n1\n${dep.out}\n`].sort((a, b) => (a < b ? -1 : 1));
    assert.ok(text.startsWith(blocks.join('')), text);
    assert.match(text, /passed as a file$/);
  });

  it('--add-root never replaces a file that is not a link into the store, and refuses roots in the store', async () => {
    const a = bs.drv('a', 'echo a > $out');
    const b = bs.drv('b', 'echo b > $out');
    await bs.write([a, b]);
    const precious = `${bs.root}/notes.txt`;
    writeFileSync(precious, 'keep me\n');
    const r = await bs.run(['-r', '--add-root', precious, a.drvPath]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`error: cannot create symlink '${precious}'; already exists`));
    assert.equal(readFileSync(precious, 'utf8'), 'keep me\n');
    const inStore = await bs.run(['-r', '--add-root', `${bs.real(a.out)}-root`, a.drvPath]);
    assert.equal(inStore.code, 1);
    assert.match(inStore.stderr, /in the Nix store is forbidden/);
    // Two arguments: ROOT and ROOT-2; an existing link into the store is replaced.
    const root = `${bs.root}/result`;
    const two = await bs.run(['-r', '--add-root', root, a.drvPath, b.drvPath]);
    assert.equal(two.code, 0, two.stderr);
    assert.deepEqual(lines(two.stdout), [root, `${root}-2`]);
    assert.equal(readlinkSync(`${root}-2`), b.out);
    assert.equal((await bs.run(['-r', '--add-root', root, b.drvPath])).code, 0);
    assert.equal(readlinkSync(root), b.out);
  });

  it('a reference rule naming something that is neither a store path nor an output is refused, as nix does', async () => {
    const odd = bs.drv('odd', 'echo > $out', [], { disallowedReferences: '/nix/store/not-a-path/bin' });
    await bs.write([odd]);
    const r = await bs.run(['-r', odd.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, /derivation contains an illegal reference specifier '\/nix\/store\/not-a-path\/bin'/);
  });

  it('--dry-run lists what would be built and builds nothing', async () => {
    const a = bs.drv('a', 'echo a > $out');
    const b = bs.drv('b', `cat ${a.out} > $out`, [a]);
    await bs.write([b]);
    const r = await bs.run(['-r', '--dry-run', b.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `these 2 derivations will be built:\n  ${[a.drvPath, b.drvPath].sort().join('\n  ')}\n`);
    assert.equal(r.stdout.length, 0);
    assert.notEqual((await bs.run(['--check-validity', a.out])).code, 0);
  });

  it('--add-root makes a symlink to the output and an indirect root for it', async () => {
    const a = bs.drv('a', 'echo a > $out');
    await bs.write([a]);
    const root = `${bs.root}/result`;
    const r = await bs.run(['-r', '--add-root', root, a.drvPath]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [root]);
    assert.doesNotMatch(r.stderr, /did not specify '--add-root'/);
    assert.equal(readlinkSync(root), a.out);
    const autoRoots = readdirSync(`${bs.root}/nix/var/nix/gcroots/auto`);
    assert.equal(autoRoots.length, 1);
    assert.equal(readlinkSync(`${bs.root}/nix/var/nix/gcroots/auto/${autoRoots[0]}`), root);
  });
});

describe('tsnix-store -r: failures', function () {
  this.timeout(120000);
  let bs: BuildStore;
  beforeEach(async () => {
    bs = await BuildStore.create();
  });
  afterEach(() => bs.remove());

  async function failingGraph(): Promise<{ bad: DerivationHandle; good: DerivationHandle; top: DerivationHandle }> {
    const bad = bs.drv('bad', 'echo about to fail; exit 3');
    const good = bs.drv('good', 'echo good > $out');
    const top = bs.drv('top', `cat ${bad.out} ${good.out} > $out`, [bad, good]);
    await bs.write([top]);
    return { bad, good, top };
  }

  it('without --keep-going: exit 100, the builder error and the dependency error in nix words, nothing of the top valid', async () => {
    const { bad, top } = await failingGraph();
    const r = await bs.run(['-r', top.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, new RegExp(`error: builder for '${bad.drvPath}' failed with exit code 3\n`));
    assert.match(r.stderr, new RegExp(`error: 1 dependencies of derivation '${top.drvPath}' failed to build\n$`));
    assert.match(r.stderr, /about to fail/);
    assert.equal(r.stdout.length, 0);
    assert.notEqual((await bs.run(['--check-validity', top.out])).code, 0);
  });

  it('with --keep-going: the other branch is still built and valid, the exit status is still 100', async () => {
    const { good, top } = await failingGraph();
    const r = await bs.run(['-r', '-k', '-j1', top.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.equal((await bs.run(['--check-validity', good.out])).code, 0);
    assert.equal(readFileSync(bs.real(good.out), 'utf8'), 'good\n');
  });

  it('a builder that produces no output fails the build, leaving nothing', async () => {
    const none = bs.drv('none', 'echo no output');
    await bs.write([none]);
    const r = await bs.run(['-r', none.drvPath]);
    assert.equal(r.code, 100);
    assert.match(r.stderr, new RegExp(`builder for '${none.drvPath}' failed to produce output path for output 'out' at '${none.out}'`));
  });

  it('a timeout exits 101 with nix\'s message', async () => {
    const slow = bs.drv('slow', 'sleep 20; echo > $out');
    await bs.write([slow]);
    const r = await bs.run(['-r', '--timeout', '1', slow.drvPath]);
    assert.equal(r.code, 101, r.stderr);
    assert.match(r.stderr, new RegExp(`error: building of '${slow.drvPath}!\\*' from .drv file timed out after 1 seconds\n`));
  });

  it('a builder that writes more than max-build-log-size is killed: exit 1 with nix\'s message, nothing valid', async () => {
    // 100 lines of 100 bytes, then a long sleep: only the kill can end it in time.
    const chatty = bs.drv('chatty', 'i=0; while [ $i -lt 100 ]; do printf "%099d\\n" $i; i=$((i+1)); done; sleep 600; echo > $out');
    await bs.write([chatty]);
    const started = Date.now();
    const r = await bs.run(['-r', '--max-build-log-size', '4096', chatty.drvPath]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - started < 45000, `the build took ${Date.now() - started} ms`);
    assert.match(r.stderr, new RegExp(`error: building of '${chatty.drvPath}!\\*' from .drv file killed after writing more than 4096 bytes of log output\n`));
    assert.notEqual((await bs.run(['--check-validity', chatty.out])).code, 0);
    // What was written past the limit is not shown: at most 40 of its 100-byte lines.
    const shown = r.stderr.match(/^\d{99}$/gm) ?? [];
    assert.ok(shown.length > 0 && shown.length <= 40, `${shown.length} lines shown`);
    // Its old name works too, and a log under the limit is fine.
    const quiet = bs.drv('quiet', 'echo short; echo > $out');
    await bs.write([quiet]);
    const ok = await bs.run(['-r', '--build-max-log-size', '4096', quiet.drvPath]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('a fixed-output hash mismatch exits 102 with both hashes, and the output is not registered', async () => {
    const fod = bs.drv('fod', 'echo x > $out', [], {}, { outputHash: '0000000000000000000000000000000000000000000000000000', outputHashAlgo: 'sha256', outputHashMode: 'flat' });
    await bs.write([fod]);
    const r = await bs.run(['-r', fod.drvPath]);
    assert.equal(r.code, 102, r.stderr);
    assert.match(r.stderr, new RegExp(`error: hash mismatch in fixed-output derivation '${fod.drvPath}':\n +specified: sha256-A{43}=\n +got: +sha256-c8s4WKaHqElMozIwUwFigvPa051Cz2LKTnndoqrH2aw=\n`));
    assert.notEqual((await bs.run(['--check-validity', fod.out])).code, 0);
  });

  it('a reference the derivation disallows fails the build with nix\'s message', async () => {
    const dep = bs.drv('dep', 'echo dep > $out');
    const user = bs.drv('user', `echo ${dep.out} > $out`, [dep], { disallowedReferences: dep.out });
    const allowedOnlySelf = bs.drv('selfish', `echo ${dep.out} > $out`, [dep], { allowedReferences: 'out' });
    await bs.write([user, allowedOnlySelf]);
    const r = await bs.run(['-r', '-k', user.drvPath, allowedOnlySelf.drvPath]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(r.stderr, new RegExp(`output '${user.out}' is not allowed to refer to the following paths:\n  ${dep.out}`));
    assert.match(r.stderr, new RegExp(`output '${allowedOnlySelf.out}' is not allowed to refer to the following paths:\n  ${dep.out}`));
    assert.match(r.stderr, /error: build of '.*', '.*' failed\n$/);
  });

  it('-j0 refuses to build anything, in nix words', async () => {
    const a = bs.drv('a', 'echo a > $out');
    await bs.write([a]);
    const r = await bs.run(['-r', '-j', '0', a.drvPath]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: unable to start any build; either increase '--max-jobs' or enable remote builds/);
  });

  it('an unknown output name and a missing derivation are errors with nix words', async () => {
    const a = bs.drv('a', 'echo a > $out');
    await bs.write([a]);
    const wrong = await bs.run(['-r', `${a.drvPath}!foo`]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`error: derivation '${a.drvPath}' does not have wanted outputs 'foo'`));
    const missing = a.drvPath.replace(/-a\.drv$/, '-b.drv');
    const r = await bs.run(['-r', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /don't know how to build this path:/);
    assert.match(r.stderr, new RegExp(`error: cannot build missing derivation '${missing}'`));
  });
});
