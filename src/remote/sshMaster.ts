/**
 * One ssh connection to a machine, shared by all its sessions (as Nix's SSHMaster): started
 * on first use with `ssh -M -N -S SOCKET`, ended by `close`. Sessions pass `-S SOCKET -o
 * ControlMaster=no`: they ride on it while it lives, and connect by themselves should it die.
 * The master is a session of nobody's, so no session's end takes the others down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sshArguments, type SshStoreUri } from './serveClient.js';

/** How long the master may take to log in before sessions connect by themselves. */
const START_TIMEOUT_MS = 30_000;

export class SshMaster {
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  private started: Promise<string | undefined> | undefined;

  constructor(
    private readonly uri: SshStoreUri,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The control socket for sessions, once the master is logged in; undefined when there is none. */
  socket(): Promise<string | undefined> {
    if (this.uri.host === 'localhost') return Promise.resolve(undefined);
    this.started ??= this.start();
    return this.started;
  }

  private async start(): Promise<string | undefined> {
    // A directory of our own (mkdtemp: mode 0700), with a short path: a socket address is short.
    this.dir = mkdtempSync(join(tmpdir(), 'tsnix-ssh-'));
    const socket = join(this.dir, 'master');
    const child = spawn('ssh', [...sshArguments(this.uri, this.env), '-M', '-N', '-S', socket, '-o', 'ControlPersist=no', this.uri.host], { stdio: ['ignore', 'ignore', 'ignore'], env: this.env });
    child.on('error', () => {
      // No ssh: the sessions say so themselves.
    });
    this.child = child;
    for (let waited = 0; waited < START_TIMEOUT_MS; waited += 20) {
      if (existsSync(socket)) return socket;
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  }

  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.started = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
