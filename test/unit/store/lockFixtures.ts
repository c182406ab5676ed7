/** A child process that takes path locks, to test exclusion between processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const distSrc = fileURLToPath(new URL('../../../src/store/', import.meta.url));

const SCRIPT = `
import { PathLocks } from ${JSON.stringify(join(distSrc, 'locks/pathLock.js'))};
import { StoreLayout } from ${JSON.stringify(join(distSrc, 'layout.js'))};
const [root, path, mode] = process.argv.slice(2);
const layout = new StoreLayout({ root });
if (mode === 'try') {
  const locks = await PathLocks.tryLock(layout, [path]);
  console.log(locks ? 'locked' : 'busy');
  locks?.release();
} else {
  const locks = await PathLocks.lock(layout, [path], { onWait: () => console.log('waiting') });
  console.log('locked');
  if (mode === 'hold') setInterval(() => {}, 1000);
  else locks.release();
}
`;

export interface LockChild {
  child: ChildProcess;
  /** Resolves with the next line the child prints. */
  nextLine(): Promise<string>;
  exited: Promise<number | null>;
}

/** Starts `node lock-child.mjs root path mode` with mode hold | wait | try. */
export function startLockChild(dir: string, root: string, path: string, mode: 'hold' | 'wait' | 'try'): LockChild {
  const script = join(dir, 'lock-child.mjs');
  writeFileSync(script, SCRIPT);
  const child = spawn(process.execPath, [script, root, path, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let waiting: ((line: string) => void) | undefined;
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    if (waiting && lines.length > 0) {
      const w = waiting;
      waiting = undefined;
      w(lines.shift()!);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    nextLine: () =>
      lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise<string>((resolve) => (waiting = resolve)),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
