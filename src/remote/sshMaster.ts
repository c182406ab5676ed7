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

/** One start of the master: its process, its socket's directory, and when it is ready. */
interface Started {
  child: ChildProcess;
  dir: string;
  /** The socket once the master is logged in; undefined when it died or took too long. */
  ready: Promise<string | undefined>;
}

export class SshMaster {
  /**
   * The master now in use. Each start keeps its own process and directory, so that a close
   * still waiting for an old master to exit never removes a newer one's socket.
   */
  private current: Started | undefined;

  constructor(
    private readonly uri: SshStoreUri,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The control socket for sessions, once the master is logged in; undefined when there is none. */
  socket(): Promise<string | undefined> {
    if (this.uri.host === 'localhost') return Promise.resolve(undefined);
    this.current ??= this.start();
    return this.current.ready;
  }

  private start(): Started {
    // A directory of our own (mkdtemp: mode 0700), with a short path: a socket address is short.
    const dir = mkdtempSync(join(tmpdir(), 'tsnix-ssh-'));
    const socket = join(dir, 'master');
    const child = spawn('ssh', [...sshArguments(this.uri, this.env), '-M', '-N', '-S', socket, '-o', 'ControlPersist=no', this.uri.host], { stdio: ['ignore', 'ignore', 'ignore'], env: this.env });
    child.on('error', () => {
      // No ssh: the sessions say so themselves.
    });
    const ready = (async (): Promise<string | undefined> => {
      for (let waited = 0; waited < START_TIMEOUT_MS; waited += 20) {
        if (child.exitCode !== null || child.signalCode !== null) return undefined;
        if (existsSync(socket)) return socket;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return undefined;
    })();
    return { child, dir, ready };
  }

  async close(): Promise<void> {
    const started = this.current;
    this.current = undefined;
    if (!started) return;
    const { child, dir } = started;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
