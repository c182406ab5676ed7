/**
 * The shared ssh connection of a machine is ended by `close`, however its starts and closes
 * interleave: a master left behind would keep the process alive after its builds (it did
 * once, at the end of a benchmark run). `ssh` here is a stand-in that makes the control
 * socket and waits.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSshStoreUri } from '../../../src/remote/serveClient.js';
import { SshMaster } from '../../../src/remote/sshMaster.js';

describe('SshMaster: every master it starts is gone after close', function () {
  this.timeout(30000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const savedTmp = process.env['TMPDIR'];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsnix-sshmaster-'));
    // The stand-in logs in after a while (the socket appears), then stays until killed.
    writeFileSync(
      join(dir, 'ssh'),
      '#!/bin/sh\nwhile [ "$1" != "-S" ]; do shift; done\ntrap \'kill $!; exit 0\' TERM\nsleep 0.05; touch "$2"\nsleep 1000 & wait\n',
      { mode: 0o755 },
    );
    env = { ...process.env, PATH: `${dir}:${process.env['PATH'] ?? ''}` };
    // Its control socket's directory goes here too, so its processes can be told apart.
    process.env['TMPDIR'] = dir;
  });
  afterEach(() => {
    if (savedTmp === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmp;
    spawnSync('pkill', ['-f', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  const masters = (): string[] => spawnSync('pgrep', ['-f', `${dir}/tsnix-ssh-`], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '');
  const uri = parseSshStoreUri('ssh://root@example.invalid');

  it('a close while the master is logging in, then a new start: the new one keeps its socket; then close', async () => {
    const master = new SshMaster(uri, env);
    const first = master.socket();
    const closing = master.close();
    const second = master.socket();
    assert.equal(await first, undefined);
    await closing;
    const socket = await second;
    assert.ok(socket && existsSync(socket), `the second master's socket ${String(socket)} is gone`);
    // Sessions get it as long as the master lives.
    assert.equal(await master.socket(), socket);
    await master.close();
    assert.deepEqual(masters(), []);
  });

  it('starts and closes interleaved many ways', async () => {
    for (let round = 0; round < 8; round++) {
      const master = new SshMaster(uri, env);
      const steps: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        steps.push((round >> (i % 3)) & 1 ? master.close() : master.socket());
        if ((round + i) % 2 === 0) await new Promise((resolve) => setTimeout(resolve, 30 * (i % 3)));
      }
      await Promise.all(steps);
      await master.close();
      assert.deepEqual(masters(), [], `round ${round}`);
    }
  });

  it('a socket is handed out only while its master lives', async () => {
    const master = new SshMaster(uri, env);
    const socket = await master.socket();
    assert.ok(socket);
    await master.close();
    const again = await master.socket();
    assert.ok(again);
    assert.notEqual(again, socket);
    assert.equal(masters().length, 1);
    await master.close();
    assert.deepEqual(masters(), []);
  });
});
