/**
 * What a user sees while tsnix-store builds. On a terminal: every line nix-store would print,
 * with one status line under them, redrawn in place, like nix's
 * `[3/10 built, 2 running] building foo: last log line`. Elsewhere (a pipe, a file, CI):
 * nix-store's plain lines only, so logs of a run read and grep like nix's.
 */
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { ansiStyles, type Styles } from './ansiStyles.js';
import type { BuildEvents } from '../build/events.js';
import { stripColour } from '../build/logFilter.js';

export interface ProgressOptions {
  stream: NodeJS.WriteStream | Writable;
  /** Draw the status line (the stream is a terminal that understands `ESC[K`). */
  isTTY: boolean;
  color: boolean;
}

export type Progress = BuildEvents & {
  /** Removes the status line; call once the builds are over, before printing results. */
  finish(): void;
};

type Env = Readonly<Record<string, string | undefined>>;

function isSet(value: string | undefined): boolean {
  return value !== undefined && value !== '';
}

/** A terminal worth drawing on: a TTY whose TERM is not `dumb` (as nix decides). */
export function terminalWanted(env: Env, stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}

/**
 * Colour unless NO_COLOR (or NOCOLOR) is set; FORCE_COLOR (or CLICOLOR_FORCE) forces it
 * on a pipe, except FORCE_COLOR=0/false which turns it off; otherwise only on a terminal.
 */
export function colorWanted(env: Env, stream: { isTTY?: boolean }): boolean {
  if (isSet(env['NO_COLOR']) || isSet(env['NOCOLOR'])) return false;
  const force = env['FORCE_COLOR'];
  if (force === '0' || force === 'false') return false;
  if (force !== undefined || isSet(env['CLICOLOR_FORCE'])) return true;
  return terminalWanted(env, stream);
}

/** `error: …` red and bold, `warning: …` magenta and bold, as nix shows them. */
function colourMessage(text: string, style: Styles): string {
  const match = /^(error|warning):/.exec(text);
  if (!match) return text;
  const prefix = match[0];
  const paint = match[1] === 'error' ? style.redBold : style.magentaBold;
  return paint(prefix) + text.slice(prefix.length);
}

/** The first `width` characters of `text` (code points; a status line need not be exact about wide ones). */
function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  return Array.from(text).slice(0, width).join('');
}

interface RunningBuild {
  name: string;
  lastLine: string;
}

export function createProgress(options: ProgressOptions): Progress {
  const { stream, isTTY, color } = options;
  const style = ansiStyles(color);
  const running = new Map<string, RunningBuild>();
  const copying = new Map<string, string>();
  let expectedBuilds = 0;
  let expectedCopies = 0;
  let built = 0;
  let failed = 0;
  let copied = 0;
  let downloadedBytes = 0;
  let downloadStart: number | undefined;
  let lastDownloadDraw = 0;
  /** The build or copy that did something last: the status line shows it. */
  let active: { kind: 'build' | 'copy'; path: string } | undefined;
  let shown = '';
  let finished = false;

  const columns = (): number => {
    const width = (stream as { columns?: unknown }).columns;
    return typeof width === 'number' && width > 0 ? width : 80;
  };

  const activity = (): string => {
    const buildPath = active?.kind === 'build' && running.has(active.path) ? active.path : [...running.keys()].pop();
    const build = buildPath === undefined ? undefined : running.get(buildPath);
    if (build && (active?.kind !== 'copy' || !copying.has(active.path))) {
      return `building ${build.name}${build.lastLine === '' ? '' : `: ${build.lastLine}`}`;
    }
    const copyPath = active?.kind === 'copy' && copying.has(active.path) ? active.path : [...copying.keys()].pop();
    // The name without the hash, as nix's status line shows paths.
    return copyPath === undefined ? '' : `copying ${basename(copyPath).slice(33)}`;
  };

  /** Bytes downloaded so far and the rate since the first one, as nix's status line shows them. */
  const downloadText = (): string => {
    if (downloadedBytes === 0 || downloadStart === undefined) return '';
    const seconds = Math.max((Date.now() - downloadStart) / 1000, 0.001);
    const mib = downloadedBytes / 1048576;
    return ` (${mib.toFixed(1)} MiB DL, ${(mib / seconds).toFixed(1)} MiB/s)`;
  };

  /** The status line as plain text, cut to the terminal's width so it never wraps. */
  const statusText = (): string => {
    if (expectedBuilds === 0 && expectedCopies === 0 && running.size === 0 && copying.size === 0) return '';
    const counts = [`${built}/${Math.max(expectedBuilds, built + failed + running.size)} built`];
    if (running.size > 0) counts.push(`${running.size} running`);
    if (expectedCopies > 0 || copying.size > 0) counts.push(`${copied}/${Math.max(expectedCopies, copied + copying.size)} copied${downloadText()}`);
    if (failed > 0) counts.push(`${failed} failed`);
    const what = activity();
    return truncate(`[${counts.join(', ')}]${what === '' ? '' : ` ${what}`}`, columns() - 1);
  };

  /** Colours the counts of a status line already cut to width (colour takes no columns). */
  const styled = (status: string): string => {
    const end = status.indexOf(']') + 1;
    const counts = status
      .slice(0, end)
      .replace(/\d+\/\d+ built/, (text) => style.green(text))
      .replace(/\d+ running/, (text) => style.blue(text))
      .replace(/\d+ failed/, (text) => style.red(text));
    return counts + status.slice(end);
  };

  const redraw = (): void => {
    if (!isTTY || finished) return;
    const status = statusText();
    if (status === shown) return;
    shown = status;
    stream.write(`\r${styled(status)}\x1b[K`);
  };

  /** A line of its own: on a terminal, above the status line, which is drawn again under it. */
  const print = (line: string): void => {
    const text = color ? line : stripColour(line);
    if (!isTTY || finished) {
      stream.write(`${text}\n`);
      return;
    }
    shown = statusText();
    stream.write(`\r\x1b[K${text}\n${styled(shown)}\x1b[K`);
  };

  return {
    expect(builds, substitutions) {
      expectedBuilds = builds;
      expectedCopies = substitutions;
      redraw();
    },
    buildStarted(drvPath, name, machine) {
      running.set(drvPath, { name, lastLine: '' });
      active = { kind: 'build', path: drvPath };
      print(`building '${drvPath}'${machine ? ` on '${machine}'` : ''}...`);
    },
    logLine(drvPath, line) {
      const build = running.get(drvPath);
      if (build) {
        build.lastLine = stripColour(line).replace(/\t/g, ' ').trim();
        active = { kind: 'build', path: drvPath };
      }
      print(line);
    },
    buildFinished(drvPath, succeeded) {
      if (!running.delete(drvPath)) return;
      if (succeeded) built++;
      else failed++;
      redraw();
    },
    substitutionStarted(path, from) {
      copying.set(path, from);
      active = { kind: 'copy', path };
      print(`copying path '${path}' from '${from}'...`);
    },
    downloaded(_path, bytes) {
      downloadStart ??= Date.now();
      downloadedBytes += bytes;
      // Redrawn at most every 100 ms: chunks arrive far more often than anyone can read.
      const now = Date.now();
      if (now - lastDownloadDraw >= 100) {
        lastDownloadDraw = now;
        redraw();
      }
    },
    substitutionFinished(path, succeeded) {
      if (!copying.delete(path)) return;
      if (succeeded) copied++;
      redraw();
    },
    message(text) {
      print(colourMessage(text, style));
    },
    finish() {
      if (finished) return;
      finished = true;
      if (isTTY && shown !== '') stream.write('\r\x1b[K');
      shown = '';
    },
  };
}
