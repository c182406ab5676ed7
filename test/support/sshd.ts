/**
 * An sshd of the test's own on 127.0.0.1 (a free port, keys made for it, root's logins by a
 * test key only), for remote builds and copies over real ssh. `sshOptions` is what
 * NIX_SSHOPTS must hold for ssh (tsnix's and nix's) to reach it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fstatSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './cli.js';

export const SSHD = '/usr/sbin/sshd';

export interface TestSshd {
  port: number;
  /** The listener's pid: each connection is served by a child of it. */
  pid: number;
  sshOptions: string;
  /** What sshd logged (the last 64 KiB of its log file): one "Accepted publickey" line per connection. */
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function keygen(file: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let waited = 0; ; waited += 50) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (waited > 10000) throw new Error(`sshd does not listen on port ${port}: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The last `bytes` of a file. */
function tail(file: string, bytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    const read = readSync(fd, buffer, 0, buffer.length, start);
    return buffer.subarray(0, read).toString();
  } finally {
    closeSync(fd);
  }
}

export async function startSshd(): Promise<TestSshd> {
  const dir = tempDir('tsnix-sshd-');
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'client_key'));
  copyFileSync(join(dir, 'client_key.pub'), join(dir, 'authorized_keys'));
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // Nix opens a connection per remote build, many at once: more than sshd's default 10 unauthenticated.
      'MaxStartups 200',
      'MaxSessions 100',
      'StrictModes no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      '',
    ].join('\n'),
  );
  // Its privilege separation directory.
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  // sshd logs to a file, never to a pipe of ours: a caller that blocks its event loop (a
  // benchmark's spawnSync of nix) would stop reading the pipe, and once its 64 KiB filled, sshd
  // would block writing a login's log line and the connection would break ("client_loop: send
  // disconnect: Broken pipe"), after ~270 logins.
  const logFile = join(dir, 'sshd.log');
  writeFileSync(logFile, '');
  const log = (): string => tail(logFile, 65536);
  const child = spawn(SSHD, ['-D', '-E', logFile, '-f', config], { stdio: 'ignore' });
  await listening(port, child, log);
  const sshOptions = `-p ${port} -i ${join(dir, 'client_key')} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes`;
  return {
    port,
    sshOptions,
    log,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
