import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processesWith, uniqueSleep, waitUntil } from './support/processes.js';
import { buildScript, makeTestStore, type TestStore } from './support/testStore.js';

describe('sandbox: nothing of a build outlives it', function () {
  this.timeout(30000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('kills a background sleep 1000 when the builder exits, and returns at once', async () => {
    const sleep = uniqueSleep();
    const started = Date.now();
    const { result } = await buildScript(store, `sleep ${sleep} & (sleep ${sleep} &) ; setsid sleep ${sleep} & echo started; touch $out`);
    const elapsed = Date.now() - started;
    assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    assert.ok(elapsed < 2000, `the build took ${elapsed} ms`);
    assert.deepEqual(processesWith(sleep), []);
  });

  it('dies with its driver: SIGKILL of the driver leaves no process of the build', async () => {
    const sleep = uniqueSleep();
    const child = spawn(process.execPath, [
      fileURLToPath(new URL('./support/runBuildChild.js', import.meta.url)),
      store.realStoreDir,
      store.bbdir,
      join(store.root, 'builds'),
      `sleep ${sleep} & echo started; sleep ${sleep}`,
      "normal",
    ]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      assert.ok(await waitUntil(() => output.includes('started'), 10000), output);
      // The builder shell and its two sleeps.
      assert.ok(await waitUntil(() => processesWith(sleep).length === 3, 5000), `found ${processesWith(sleep).length}`);
      child.kill('SIGKILL');
      assert.ok(await waitUntil(() => processesWith(sleep).length === 0, 3000), `left: ${processesWith(sleep).join(' ')}`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('kills the build on timeout and reports it', async () => {
    const sleep = uniqueSleep();
    const started = Date.now();
    const { result } = await buildScript(store, `echo going; sleep ${sleep}`, { settings: { timeout: 1 } });
    assert.deepEqual(result.status, { kind: 'timed-out', seconds: 1 });
    assert.ok(Date.now() - started < 4000);
    assert.deepEqual(processesWith(sleep), []);
  });

  it('kills the build after max-silent-time without output, but not while it talks', async () => {
    const silent = await buildScript(store, `echo one; sleep ${uniqueSleep()}`, { settings: { maxSilentTime: 1 } });
    assert.deepEqual(silent.result.status, { kind: 'silent', seconds: 1 });
    const chatty = await buildScript(store, 'for i in 1 2 3 4; do echo $i; sleep 0.4; done; touch $out', { settings: { maxSilentTime: 1 } });
    assert.deepEqual(chatty.result.status, { kind: 'exited', code: 0 });
  });

  it('kills the build when its AbortSignal fires', async () => {
    const sleep = uniqueSleep();
    const controller = new AbortController();
    const building = buildScript(store, `echo started; sleep ${sleep}`, {
      extra: { signal: controller.signal, onLogLine: () => controller.abort() },
    });
    const { result } = await building;
    assert.deepEqual(result.status, { kind: 'cancelled' });
    assert.deepEqual(processesWith(sleep), []);
  });
});
