/**
 * runPreBuildHook: Nix's `pre-build-hook` setting. Before a build the hook is run with the
 * `.drv` path and, for a sandboxed build, the sandbox's root directory; what it prints on
 * stdout may add paths to the sandbox:
 *
 *     extra-sandbox-paths        (or the older name: extra-chroot-dirs)
 *     /target=/source
 *     /path
 *     <empty line>
 *
 * Any other line where a command is expected is an error, as in Nix, and so is an empty line
 * there; a last line without its newline is ignored, as Nix ignores it. Nix runs the hook
 * only for sandboxed builds (a hook can do nothing else); when to call it is the caller's choice.
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { constants } from 'node:os';

/** cross-spawn, loaded when a process is first started this way (~11 ms a command otherwise). */
const crossSpawn = (): typeof import('cross-spawn') => createRequire(import.meta.url)('cross-spawn') as typeof import('cross-spawn');

export interface PreBuildHookOptions {
  /** The program to run (not looked up in PATH, as Nix does not). */
  hook: string;
  drvPath: string;
  /** The sandbox's root directory, when the build is sandboxed. */
  sandboxDir?: string;
  /** The hook's environment (default: ours). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Each line the hook writes on stderr (Nix shows them to the user). */
  onStderrLine?: (line: string) => void;
}

/** The hook failed or printed something that is not its protocol; the build cannot go on. */
export class PreBuildHookError extends Error {
  override name = 'PreBuildHookError';
}

/** More than this on stdout is not a list of paths; the hook is stopped. */
const MAX_OUTPUT = 1 << 20;
/** Longest line of the hook's shown in an error message. */
const MAX_SHOWN_LINE = 1000;
/** A stderr line without its newline is passed on in pieces of this size. */
const MAX_STDERR_LINE = 64 * 1024;

/**
 * Runs the hook and returns the sandbox path entries it adds, in `sandbox-paths` syntax
 * (`target=source` or `path`), in the order printed. Throws PreBuildHookError when the hook
 * cannot be run, fails, or prints anything else; rejects with the signal's reason when aborted.
 */
export async function runPreBuildHook(options: PreBuildHookOptions): Promise<string[]> {
  const output = await runHook(options);
  return parseHookOutput(output, options.hook);
}

/** Parses what the hook printed; exported for the tests of the protocol alone. */
export function parseHookOutput(output: string, hook: string): string[] {
  const paths: string[] = [];
  let inPaths = false;
  let start = 0;
  for (let newline = output.indexOf('\n'); newline >= 0; newline = output.indexOf('\n', start)) {
    const line = output.slice(start, newline);
    start = newline + 1;
    if (!inPaths) {
      if (line !== 'extra-sandbox-paths' && line !== 'extra-chroot-dirs') {
        throw new PreBuildHookError(`unknown pre-build hook command '${printable(line)}' (printed by pre-build hook '${hook}')`);
      }
      inPaths = true;
    } else if (line === '') {
      inPaths = false;
    } else {
      paths.push(line);
    }
  }
  return paths;
}

/** What glibc's strsignal says for the signals a hook is likely to die of. */
const SIGNAL_DESCRIPTIONS: Partial<Record<NodeJS.Signals, string>> = {
  SIGHUP: 'Hangup',
  SIGINT: 'Interrupt',
  SIGQUIT: 'Quit',
  SIGILL: 'Illegal instruction',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGFPE: 'Floating point exception',
  SIGKILL: 'Killed',
  SIGSEGV: 'Segmentation fault',
  SIGPIPE: 'Broken pipe',
  SIGTERM: 'Terminated',
};

/** How the hook ended, in Nix's words for a program's exit status. */
function describeStatus(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `failed due to signal ${constants.signals[signal] ?? '?'} (${SIGNAL_DESCRIPTIONS[signal] ?? signal})`;
  return `failed with exit code ${code}`;
}

function runHook(options: PreBuildHookOptions): Promise<string> {
  const { hook, signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const args = options.sandboxDir === undefined ? [options.drvPath] : [options.drvPath, options.sandboxDir];
  return new Promise((resolve, reject) => {
    const child = crossSpawn()(hook, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.on('exit', (code, exitSignal) => {
      exit = { code, signal: exitSignal };
    });
    let settled = false;
    const settle = (error: unknown, output?: string) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve(output!);
      else reject(error);
    };
    // Settled at once, not at 'close': a process the hook left behind may hold its pipes open.
    // Closing our ends of the pipes also stops anything it started that still writes to them.
    const stop = (why: unknown) => {
      child.kill('SIGKILL');
      child.stdout?.destroy();
      child.stderr?.destroy();
      settle(why);
    };
    const onAbort = () => stop(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    const stdout: Buffer[] = [];
    let stdoutSize = 0;
    (child.stdout as Readable).on('data', (chunk: Buffer) => {
      stdoutSize += chunk.length;
      if (stdoutSize <= MAX_OUTPUT) stdout.push(chunk);
      else stop(new PreBuildHookError(`pre-build hook '${hook}' printed more than ${MAX_OUTPUT} bytes; it should print only sandbox paths`));
    });
    let lastStderrLine = '';
    forEachLine(child.stderr as Readable, (line) => {
      const shown = printable(line).trim();
      if (shown !== '') lastStderrLine = shown;
      options.onStderrLine?.(line);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      // The hook could not be started (missing, not executable); Nix's child reports the exec error.
      const reason = err.code === 'EACCES' ? 'Permission denied' : err.code === 'ENOENT' ? 'No such file or directory' : err.message;
      stop(new PreBuildHookError(`pre-build hook program '${hook}' failed: executing '${hook}': ${reason}`));
    });
    child.on('close', (code, exitSignal) => {
      const status = exit ?? { code, signal: exitSignal };
      if (status.code === 0) return settle(undefined, Buffer.concat(stdout).toString('utf8'));
      const detail = lastStderrLine ? `: ${lastStderrLine}` : '';
      settle(new PreBuildHookError(`pre-build hook program '${hook}' ${describeStatus(status.code, status.signal)}${detail}`));
    });
  });
}

/**
 * A line the hook printed, fit for a one-line message: colour codes dropped, other control
 * characters shown as '?', and cut short when long.
 */
function printable(line: string): string {
  const shown = line.replace(/\r$/, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?');
  return shown.length > MAX_SHOWN_LINE ? `${shown.slice(0, MAX_SHOWN_LINE)}...` : shown;
}

/** Calls `onLine` for each line of `stream` (without its newline), the last one even unterminated. */
function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
    // A hook that never ends a line must not make us buffer without bound.
    if (pending.length > MAX_STDERR_LINE) {
      onLine(pending);
      pending = '';
    }
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
  });
}
