import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildScript, logValue, makeTestStore, type TestStore } from './support/testStore.js';

describe('sandbox: a builder writes only $out, /build and /tmp', function () {
  this.timeout(30000);
  let store: TestStore;
  before(() => {
    store = makeTestStore();
  });
  after(() => store.destroy());

  it('cannot write to an input path, /etc, /dev, / or /proc', async () => {
    const input = store.addFile('input', 'data', 'original\n');
    const { result, log } = await buildScript(
      store,
      [
        `echo evil > ${input}/data; echo "input-file=$?"`,
        `touch ${input}/new; echo "input-new=$?"`,
        `chmod 777 ${input}/data; echo "input-chmod=$?"`,
        `rm -f ${store.bbdir}/busybox; echo "input-rm=$?"`,
        'touch /etc/evil; echo "etc=$?"',
        'echo x >> /etc/passwd; echo "passwd=$?"',
        'touch /evil; echo "root=$?"',
        'touch /dev/evil; echo "dev=$?"',
        'echo 1 > /proc/sys/kernel/hostname; echo "proc=$?"',
        'echo ok > /build/f && echo ok > /tmp/f && mkdir $out && echo ok > $out/f; echo "allowed=$?"',
      ].join('; '),
      { inputs: [input] },
    );
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    for (const key of ['input-file', 'input-new', 'input-chmod', 'input-rm', 'etc', 'passwd', 'root', 'dev', 'proc']) {
      assert.notEqual(logValue(log, key), '0', `${key} was writable`);
    }
    assert.equal(logValue(log, 'allowed'), '0');
    const real = join(store.realStoreDir, input.slice('/nix/store/'.length));
    assert.deepEqual(readdirSync(real), ['data']);
    assert.equal(readFileSync(join(real, 'data'), 'utf8'), 'original\n');
    assert.ok(existsSync(join(store.realStoreDir, store.bbdir.slice('/nix/store/'.length), 'busybox')));
  });

  it('cannot change an input that is a single file (hard-linked in as Nix does, or bound read-only)', async () => {
    const text = store.addText('text-input', 'original text\n');
    const { result, log } = await buildScript(
      store,
      `cat ${text}; echo more >> ${text}; echo "append=$?"; chmod 666 ${text}; echo "chmod=$?"; ` +
        `rm -f ${text}; echo "rm=$?"; mv ${text} /build/x; echo "mv=$?"; touch $out`,
      { inputs: [text] },
    );
    assert.deepEqual(result.status, { kind: 'exited', code: 0 }, log.join('\n'));
    assert.equal(log[0], 'original text');
    for (const key of ['append', 'chmod', 'rm', 'mv']) assert.notEqual(logValue(log, key), '0', `${key} succeeded`);
    const real = join(store.realStoreDir, text.slice('/nix/store/'.length));
    assert.equal(readFileSync(real, 'utf8'), 'original text\n');
    assert.equal(statSync(real).mode & 0o7777, 0o444);
  });

  it('leaves nothing in the real store but its declared outputs', async () => {
    const before = new Set(readdirSync(store.realStoreDir));
    const { result, out } = await buildScript(store, 'mkdir $out /nix/store/00000000000000000000000000000000-planted; echo x > /nix/store/00000000000000000000000000000000-planted/f');
    assert.deepEqual(result.status, { kind: 'exited', code: 0 });
    const added = readdirSync(store.realStoreDir).filter((name) => !before.has(name));
    assert.deepEqual(added, [out.slice('/nix/store/'.length)]);
  });
});
