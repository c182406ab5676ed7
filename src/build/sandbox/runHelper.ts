import { createRequire } from 'node:module';
import type { Readable, Writable } from 'node:stream';
import { SandboxSetupError } from './errors.js';
import { HelperServer } from './helperServer.js';

/** cross-spawn, loaded when a process is first started this way (~11 ms a command otherwise). */
const crossSpawn = (): typeof import('cross-spawn') => createRequire(import.meta.url)('cross-spawn') as typeof import('cross-spawn');

/** How a build ended, as far as the sandbox knows. */
export type BuilderStatus =
  | { kind: 'exited'; code: number }
  | { kind: 'signaled'; signal: number }
  | { kind: 'timed-out'; seconds: number }
  | { kind: 'silent'; seconds: number }
  | { kind: 'log-limit'; bytes: number }
  | { kind: 'cancelled' };

export interface RunHelperOptions {
  helper: string;
  args?: string[];
  description: Buffer;
  onLogLine(line: string): void;
  /** Seconds; 0 = no limit. */
  timeout: number;
  maxSilentTime: number;
  /** Bytes of builder output (stdout and stderr) after which it is killed; 0 = no limit. */
  maxLogSize?: number;
  signal?: AbortSignal;
}

/** After SIGTERM, how long the helper gets before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** pasta complains on stderr when the machine has no syslog socket; not worth showing a user. */
const NOISE = /^Failed to send \d+ bytes to syslog$/;
/** The longest log line kept whole; longer ones are cut into pieces of this size. */
const MAX_LINE = 1 << 20;
/** nix reads a builder's output 4096 bytes at a time. */
const NIX_READ_SIZE = 4096;
/** Helper messages kept for an error report. */
const MAX_MESSAGES = 64 * 1024;

/** Splits a byte stream into lines (without the newline); the last partial line is flushed at the end. */
function forEachLine(stream: Readable, onLine: (line: string) => void, onData: (bytes: number) => void): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  const take = (chunk: Buffer): void => {
    onData(chunk.length);
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10, start)) {
      onLine(pending.subarray(start, nl).toString('utf8'));
      start = nl + 1;
    }
    pending = pending.subarray(start);
    // A builder that never ends a line must not make the driver buffer without bound.
    if (pending.length > MAX_LINE) {
      onLine(pending.toString('utf8'));
      pending = Buffer.alloc(0);
    }
  };
  // In pieces of nix's read size, so that the log limit cuts where nix's would, whatever
  // amount the pipe gave at once: what precedes the piece that crosses it is still shown.
  stream.on('data', (chunk: Buffer) => {
    for (let start = 0; start < chunk.length; start += NIX_READ_SIZE) take(chunk.subarray(start, start + NIX_READ_SIZE));
  });
  return new Promise((resolve) =>
    stream.on('close', () => {
      if (pending.length) onLine(pending.toString('utf8'));
      resolve();
    }),
  );
}

function parseStatus(text: string): BuilderStatus | undefined {
  const match = /^(exit|signal) (\d+)\n/.exec(text);
  if (!match) return undefined;
  const value = Number(match[2]);
  return match[1] === 'exit' ? { kind: 'exited', code: value } : { kind: 'signaled', signal: value };
}

interface Launched {
  child: { kill(signal: NodeJS.Signals): unknown; on(event: 'close', listener: (code: number | null) => void): unknown; on(event: 'error', listener: (error: Error) => void): unknown };
  stdout: Readable;
  stderr: Readable;
  statusPipe: Readable;
}

/**
 * Starts the helper with its description: through the helper server (a fork of a small C
 * process instead of this large one), or, with `args` or TSNIX_HELPER_DIRECT=1, directly.
 */
function launch(options: RunHelperOptions): Launched {
  if (!options.args && process.env['TSNIX_HELPER_DIRECT'] !== '1') {
    const served = HelperServer.for(options.helper).start(options.description);
    return { child: served, stdout: served.stdout, stderr: served.stderr, statusPipe: served.status };
  }
  const child = crossSpawn()(options.helper, options.args ?? [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  const [stdin, stdout, stderr, statusPipe] = child.stdio as unknown as [Writable, Readable, Readable, Readable];
  stdin.on('error', () => {
    // EPIPE: the helper died before reading everything; its exit status tells why.
  });
  stdin.end(options.description);
  return { child, stdout, stderr, statusPipe };
}

/**
 * Spawns the helper, hands it the description, streams the builder's output as lines and
 * enforces `timeout`, `max-silent-time`, `max-build-log-size` and cancellation by killing the helper (whose death
 * takes the whole sandbox with it). Resolves once the helper and every pipe are closed.
 */
export async function runHelper(options: RunHelperOptions): Promise<BuilderStatus> {
  const { child, stdout, stderr, statusPipe } = launch(options);
  let stopped: BuilderStatus | undefined;
  let silenceTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  const stop = (why: BuilderStatus): void => {
    if (stopped) return;
    stopped = why;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  };
  const armSilence = (): void => {
    if (options.maxSilentTime <= 0 || stopped) return;
    if (silenceTimer) clearTimeout(silenceTimer);
    silenceTimer = setTimeout(() => stop({ kind: 'silent', seconds: options.maxSilentTime }), options.maxSilentTime * 1000);
  };
  const timeoutTimer =
    options.timeout > 0 ? setTimeout(() => stop({ kind: 'timed-out', seconds: options.timeout }), options.timeout * 1000) : undefined;
  const onAbort = (): void => stop({ kind: 'cancelled' });
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  armSilence();

  let messages = '';
  stderr.on('data', (chunk: Buffer) => {
    if (messages.length < MAX_MESSAGES) messages += chunk.toString('utf8');
  });
  let statusText = '';
  statusPipe.on('data', (chunk: Buffer) => {
    statusText += chunk.toString('utf8');
  });
  // Like nix, the limit counts what the builder wrote, not the lines shown.
  const maxLogSize = options.maxLogSize ?? 0;
  let logSize = 0;
  const onOutput = (bytes: number): void => {
    armSilence();
    logSize += bytes;
    if (maxLogSize > 0 && logSize > maxLogSize) stop({ kind: 'log-limit', bytes: maxLogSize });
  };
  // As nix, the output that crossed the limit (and anything after) is not logged.
  const onLine = (line: string): void => {
    if (stopped?.kind !== 'log-limit') options.onLogLine(line);
  };
  const logDone = forEachLine(stdout, onLine, onOutput);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  try {
    const [code] = await Promise.all([exited, logDone]);
    if (stopped) return stopped;
    const status = parseStatus(statusText);
    if (status) return status;
    const detail = messages
      .split('\n')
      .filter((line) => line.trim() !== '' && !NOISE.test(line))
      .join('; ');
    throw new SandboxSetupError(detail || `the sandbox helper '${options.helper}' failed (exit ${String(code)}) before the builder ran`);
  } finally {
    if (timeoutTimer) clearTimeout(timeoutTimer);
    if (silenceTimer) clearTimeout(silenceTimer);
    if (killTimer) clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}
