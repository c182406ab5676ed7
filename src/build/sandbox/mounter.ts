/**
 * The client of a recursive build's mounter (helper-c/addpath.c): asks it to make store
 * paths appear in the running sandbox, one line each ("SOURCE\tTARGET\n" -> "ok" or
 * "error MESSAGE").
 */
import { createConnection } from 'node:net';
import { SandboxSetupError } from './errors.js';

/** Mounts each [host path, path in the sandbox] pair, in order; throws the first refusal. */
export async function mountIntoSandbox(socketPath: string, pairs: readonly (readonly [string, string])[]): Promise<void> {
  if (pairs.length === 0) return;
  const socket = createConnection(socketPath);
  const lines: string[] = [];
  let pending = '';
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
    wake?.();
  });
  socket.on('error', (error) => {
    failure = error;
    wake?.();
  });
  socket.on('close', () => {
    ended = true;
    wake?.();
  });
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) {
      if (failure) throw new SandboxSetupError(`cannot reach the sandbox's mounter: ${failure.message}`);
      if (ended) throw new SandboxSetupError('the sandbox has ended');
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return lines.shift()!;
  };
  try {
    for (const [source, target] of pairs) {
      socket.write(`${source}\t${target}\n`);
      const answer = await nextLine();
      if (answer !== 'ok') throw new SandboxSetupError(`cannot make '${target}' appear in the sandbox: ${answer.replace(/^error /, '')}`);
    }
  } finally {
    socket.destroy();
  }
}
