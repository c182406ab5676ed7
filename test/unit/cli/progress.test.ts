import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { colorWanted, createProgress, terminalWanted, type Progress } from '../../../src/cli/progress.js';

const DRV_A = '/nix/store/h2vf5hji1yp7v8rrpyd8pij9cppsvrl7-hello-2.12.drv';
const DRV_B = '/nix/store/jgm5hrx751q83g5j78yakl67da88ypli-zlib-1.3.drv';
const PATH_C = '/nix/store/lldy7in79y77ykr268l0mc7n6savg4qq-glibc-2.40';

/** A stream that records what is written, with a terminal's width. */
class FakeTerminal extends Writable {
  text = '';
  columns: number;
  constructor(columns = 80) {
    super();
    this.columns = columns;
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/**
 * What a terminal shows after `output`: understands `\r`, `\n`, `ESC[K` (erase to the end
 * of the line) and colour (ignored); any other escape sequence fails the test.
 */
function screen(output: string): string[] {
  const lines: string[] = [''];
  let column = 0;
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    const row = lines.length - 1;
    if (c === '\r') column = 0;
    else if (c === '\n') {
      lines.push('');
      column = 0;
    } else if (c === '\x1b') {
      const match = /^\x1b\[([0-9;]*)([A-Za-z])/.exec(output.slice(i));
      assert.ok(match && (match[2] === 'K' || match[2] === 'm'), `unexpected escape sequence ${JSON.stringify(output.slice(i, i + 8))}`);
      if (match[2] === 'K') lines[row] = lines[row]!.slice(0, column);
      i += match[0].length - 1;
    } else {
      const line = lines[row]!.padEnd(column);
      lines[row] = line.slice(0, column) + c + line.slice(column + 1);
      column++;
    }
  }
  return lines;
}

function tty(columns = 80): { term: FakeTerminal; progress: Progress } {
  const term = new FakeTerminal(columns);
  return { term, progress: createProgress({ stream: term, isTTY: true, color: false }) };
}

describe('build progress display', () => {
  describe('on a terminal', () => {
    it('shows counts, the running build and its last log line on one status line under the log', () => {
      const { term, progress } = tty();
      progress.expect(3, 0);
      progress.buildStarted(DRV_A, 'hello-2.12');
      progress.logLine(DRV_A, 'configuring');
      progress.logLine(DRV_A, 'checking for gcc... gcc');
      assert.deepEqual(screen(term.text), [
        `building '${DRV_A}'...`,
        'configuring',
        'checking for gcc... gcc',
        '[0/3 built, 1 running] building hello-2.12: checking for gcc... gcc',
      ]);
    });

    it('counts finished and failed builds and follows the build that printed last', () => {
      const { term, progress } = tty();
      progress.expect(10, 0);
      progress.buildStarted(DRV_A, 'hello-2.12');
      progress.buildStarted(DRV_B, 'zlib-1.3');
      progress.logLine(DRV_A, 'make all');
      progress.buildFinished(DRV_B, true);
      const last = screen(term.text).at(-1);
      assert.equal(last, '[1/10 built, 1 running] building hello-2.12: make all');
      progress.buildFinished(DRV_A, false);
      assert.equal(screen(term.text).at(-1), '[1/10 built, 1 failed]');
    });

    it('shows a substitution as copying with its count', () => {
      const { term, progress } = tty();
      progress.expect(0, 2);
      progress.substitutionStarted(PATH_C, 'https://cache.example.org');
      assert.deepEqual(screen(term.text), [
        `copying path '${PATH_C}' from 'https://cache.example.org'...`,
        '[0/0 built, 0/2 copied] copying glibc-2.40',
      ]);
      progress.substitutionFinished(PATH_C, true);
      assert.equal(screen(term.text).at(-1), '[0/0 built, 1/2 copied]');
    });

    it('shows the bytes downloaded and the rate', async () => {
      const { term, progress } = tty();
      progress.expect(0, 1);
      progress.substitutionStarted(PATH_C, 'https://cache.example.org');
      progress.downloaded(PATH_C, 1024 * 1024);
      await new Promise((resolve) => setTimeout(resolve, 120));
      progress.downloaded(PATH_C, 1024 * 1024);
      assert.match(screen(term.text).at(-1)!, /^\[0\/0 built, 0\/1 copied \(2\.0 MiB DL, \d+\.\d MiB\/s\)\] copying glibc-2\.40$/);
    });

    it('cuts the status line to the terminal width so it never wraps', () => {
      const { term, progress } = tty(40);
      progress.expect(1, 0);
      progress.buildStarted(DRV_A, 'hello-2.12');
      progress.logLine(DRV_A, 'a very long line of compiler flags -O2 -fstack-protector-strong');
      const status = screen(term.text).at(-1)!;
      assert.equal(status, '[0/1 built, 1 running] building hello-2.'.slice(0, 39));
      assert.ok(status.length < 40);
    });

    it('shows the last log line without its colour or tabs in the status line', () => {
      const { term, progress } = tty();
      progress.expect(1, 0);
      progress.buildStarted(DRV_A, 'hello-2.12');
      progress.logLine(DRV_A, '\x1b[32mCC\x1b[0m\thello.o');
      assert.equal(screen(term.text).at(-1), '[0/1 built, 1 running] building hello-2.12: CC hello.o');
    });

    it('finish() clears the status line and leaves the log', () => {
      const { term, progress } = tty();
      progress.expect(1, 0);
      progress.buildStarted(DRV_A, 'hello-2.12');
      progress.logLine(DRV_A, 'done');
      progress.buildFinished(DRV_A, true);
      progress.finish();
      assert.deepEqual(screen(term.text), [`building '${DRV_A}'...`, 'done', '']);
    });

    it('messages after finish() are plain lines with no status line drawn again', () => {
      const { term, progress } = tty();
      progress.expect(1, 0);
      progress.finish();
      progress.message('error: build of foo failed');
      assert.deepEqual(screen(term.text), ['error: build of foo failed', '']);
    });

    it('colours the counts when colour is wanted', () => {
      const term = new FakeTerminal();
      const progress = createProgress({ stream: term, isTTY: true, color: true });
      progress.expect(2, 0);
      progress.buildStarted(DRV_A, 'hello-2.12');
      assert.match(term.text, /\[\x1b\[32m0\/2 built\x1b\[39m, \x1b\[34m1 running\x1b\[39m\] building hello-2\.12/);
    });
  });

  describe('not on a terminal', () => {
    function plain(color: boolean): { out: FakeTerminal; progress: Progress } {
      const out = new FakeTerminal();
      return { out, progress: createProgress({ stream: out, isTTY: false, color }) };
    }

    it("prints nix-store's lines: building '…drv'..., each log line as it is, copying path", () => {
      const { out, progress } = plain(false);
      progress.expect(2, 1);
      progress.substitutionStarted(PATH_C, 'https://cache.example.org');
      progress.substitutionFinished(PATH_C, true);
      progress.buildStarted(DRV_A, 'hello-2.12');
      progress.logLine(DRV_A, 'unpacking sources');
      progress.logLine(DRV_A, '\tindented');
      progress.buildFinished(DRV_A, true);
      progress.finish();
      assert.equal(
        out.text,
        `copying path '${PATH_C}' from 'https://cache.example.org'...\n` +
          `building '${DRV_A}'...\nunpacking sources\n\tindented\n`,
      );
    });

    it('keeps the colour of log lines when colour is wanted and drops it when not', () => {
      const coloured = plain(true);
      coloured.progress.logLine(DRV_A, '\x1b[1;31mFAIL\x1b[0m test_x');
      assert.equal(coloured.out.text, '\x1b[1;31mFAIL\x1b[0m test_x\n');
      const uncoloured = plain(false);
      uncoloured.progress.logLine(DRV_A, '\x1b[1;31mFAIL\x1b[0m test_x');
      assert.equal(uncoloured.out.text, 'FAIL test_x\n');
    });

    it('shows error: in bold red and warning: in bold magenta only with colour', () => {
      const coloured = plain(true);
      coloured.progress.message('error: builder for foo failed with exit code 1');
      coloured.progress.message('warning: you did not specify --add-root');
      coloured.progress.message('note: not an error:');
      assert.equal(
        coloured.out.text,
        '\x1b[31m\x1b[1merror:\x1b[22m\x1b[39m builder for foo failed with exit code 1\n' +
          '\x1b[35m\x1b[1mwarning:\x1b[22m\x1b[39m you did not specify --add-root\n' +
          'note: not an error:\n',
      );
      const uncoloured = plain(false);
      uncoloured.progress.message('error: builder for foo failed with exit code 1');
      assert.equal(uncoloured.out.text, 'error: builder for foo failed with exit code 1\n');
    });
  });

  describe('colorWanted', () => {
    const terminal = { isTTY: true };
    const pipe = { isTTY: false };
    it('colours a terminal and not a pipe by default', () => {
      assert.equal(colorWanted({ TERM: 'xterm' }, terminal), true);
      assert.equal(colorWanted({ TERM: 'xterm' }, pipe), false);
    });
    it('NO_COLOR turns colour off even on a terminal and with FORCE_COLOR', () => {
      assert.equal(colorWanted({ TERM: 'xterm', NO_COLOR: '1' }, terminal), false);
      assert.equal(colorWanted({ NO_COLOR: '1', FORCE_COLOR: '1' }, pipe), false);
    });
    it('an empty NO_COLOR does not count, as its convention says', () => {
      assert.equal(colorWanted({ TERM: 'xterm', NO_COLOR: '' }, terminal), true);
    });
    it('FORCE_COLOR colours a pipe, and FORCE_COLOR=0 turns colour off', () => {
      assert.equal(colorWanted({ FORCE_COLOR: '1' }, pipe), true);
      assert.equal(colorWanted({ FORCE_COLOR: '' }, pipe), true);
      assert.equal(colorWanted({ TERM: 'xterm', FORCE_COLOR: '0' }, terminal), false);
    });
    it('a dumb terminal gets neither colour nor a status line', () => {
      assert.equal(colorWanted({ TERM: 'dumb' }, terminal), false);
      assert.equal(terminalWanted({ TERM: 'dumb' }, terminal), false);
      assert.equal(terminalWanted({ TERM: 'xterm' }, terminal), true);
    });
  });
});
