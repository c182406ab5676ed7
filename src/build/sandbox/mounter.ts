/**
 * The client of a recursive build's mounter (helper-c/addpath.c): asks it to make store
 * paths appear in the running sandbox, one line each ("SOURCE\tTARGET\n" -> "ok" or
 * "error MESSAGE").
 */
import { closeSync, constants, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { basename, dirname } from 'node:path';
import { SandboxSetupError } from './errors.js';

const ANSWER_TIMEOUT_MS = 120_000;

/** Mounts each [host path, path in the sandbox] pair, in order; throws the first refusal. */
export async function mountIntoSandbox(socketPath: string, pairs: readonly (readonly [string, string])[]): Promise<void> {
  if (pairs.length === 0) return;
  // Through /proc/self/fd/N/NAME, N the directory: the path may be longer than a socket address holds.
  const dir = openSync(dirname(socketPath), constants.O_RDONLY | constants.O_DIRECTORY);
  const socket = createConnection(`/proc/self/fd/${dir}/${basename(socketPath)}`);
  let dirOpen = true;
  const closeDir = (): void => {
    if (dirOpen) closeSync(dir);
    dirOpen = false;
  };
  socket.once('connect', closeDir);
  socket.once('close', closeDir);
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
  // The mounter answers in milliseconds; one that does not is stuck, and the build with it.
  const timer = setTimeout(() => {
    failure = new Error(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`);
    socket.destroy();
    wake?.();
  }, ANSWER_TIMEOUT_MS);
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
    clearTimeout(timer);
    socket.destroy();
  }
}
