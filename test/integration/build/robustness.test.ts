/** Builds that are killed, and builds of one graph by two processes at once. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildStore } from '../../support/buildStore.js';
import { TSNIX_STORE } from '../../support/cli.js';

describe('tsnix-store -r: killed builds and concurrent processes', function () {
  this.timeout(180000);
  let bs: BuildStore;
  let control: string;
  beforeEach(async () => {
    bs = await BuildStore.create();
    control = mkdtempSync('/tmp/tsnix-control-');
  });
  afterEach(() => {
    bs.remove();
    rmSync(control, { recursive: true, force: true });
  });

  it('SIGKILL in the middle of a build leaves nothing valid, and a rerun builds it', async () => {
    writeFileSync(join(control, 'slow'), '');
    // The builder stalls only while the host directory bound at /control holds `slow`.
    const victim = bs.drv('victim', 'echo partial > $out; echo started; if [ -e /control/slow ]; then sleep 60; fi; echo complete >> $out');
    const top = bs.drv('top', `cat ${victim.out} > $out`, [victim]);
    await bs.write([top]);
    const child = spawn(TSNIX_STORE, ['--store', bs.storeArg, '--option', 'extra-sandbox-paths', `/control=${control}`, '-r', top.drvPath], {
      env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('started\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`the build ended before it was killed: ${stderr}`)));
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    // A killed process leaves its build directory behind, as nix does; the test clears it.
    for (const name of readdirSync(tmpdir())) if (name.startsWith('nix-build-victim-')) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    for (const path of [victim.out, top.out]) assert.notEqual((await bs.run(['--check-validity', path])).code, 0, `${path} is not valid`);

    rmSync(join(control, 'slow'));
    const again = await bs.run(['-r', top.drvPath]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(bs.real(top.out), 'utf8'), 'partial\ncomplete\n');
    const verify = await bs.run(['--verify', '--check-contents']);
    assert.equal(verify.code, 0, verify.stderr);
  });

  it('two processes realising overlapping graphs build each derivation exactly once', async () => {
    const chain = [bs.drv('shared0', 'sleep 0.2; echo 0 > $out')];
    for (let i = 1; i < 4; i++) chain.push(bs.drv(`shared${i}`, `sleep 0.2; cat ${chain[i - 1]!.out} > $out; echo ${i} >> $out`, [chain[i - 1]!]));
    const last = chain[chain.length - 1]!;
    const side = (who: string) => Array.from({ length: 3 }, (_, i) => bs.drv(`${who}${i}`, `sleep 0.1; echo ${who}${i} > $out`));
    const aSide = side('a');
    const bSide = side('b');
    const both = bs.drv('both', `echo both > $out`, [aSide[0]!, bSide[0]!]);
    const topA = bs.drv('topA', `cat ${last.out} > $out`, [last, ...aSide, both]);
    const topB = bs.drv('topB', `cat ${last.out} > $out`, [last, ...bSide, both]);
    await bs.write([topA, topB]);
    const [a, b] = await Promise.all([bs.run(['-r', '-j2', topA.drvPath]), bs.run(['-r', '-j2', topB.drvPath])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const built = [a.stderr, b.stderr].flatMap((s) => s.split('\n').filter((l) => l.startsWith('building ')));
    const counts = new Map<string, number>();
    for (const line of built) counts.set(line, (counts.get(line) ?? 0) + 1);
    for (const [line, n] of counts) assert.equal(n, 1, `${line} ran ${n} times`);
    const all = [...chain, ...aSide, ...bSide, both, topA, topB];
    assert.equal(counts.size, all.length, `every derivation was built: ${[...counts.keys()].join('\n')}`);
    assert.equal(readFileSync(bs.real(topB.out), 'utf8'), '0\n1\n2\n3\n');
  });
});
