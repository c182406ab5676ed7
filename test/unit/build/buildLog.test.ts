import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildLogWriter, openBuildLog, readBuildLog } from '../../../src/build/buildLog.js';
import { StoreLayout } from '../../../src/store/layout.js';
import { tempDir } from '../../support/cli.js';

const DRV = '/nix/store/h2vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv';

function bunzip2(file: string): Buffer {
  const result = spawnSync('bzip2', ['-dc', file], { maxBuffer: 1 << 30 });
  assert.equal(result.status, 0, result.stderr.toString());
  return result.stdout;
}

describe('build logs', () => {
  let root: string;
  let layout: StoreLayout;
  let drvsDir: string;
  beforeEach(() => {
    root = tempDir();
    layout = new StoreLayout({ root });
    drvsDir = join(root, 'nix/var/log/nix/drvs');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function writeLog(lines: string[], compress: boolean): Promise<void> {
    const writer = BuildLogWriter.open(layout, DRV, compress);
    for (const line of lines) writer.writeLine(line);
    await writer.close();
  }

  it('a plain log is drvs/XX/REST under the log directory, one line per line written', async () => {
    await writeLog(['hello', 'wörld \x1b[1mbold\x1b[0m', ''], false);
    assert.deepEqual(readdirSync(join(drvsDir, 'h2')), ['vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv']);
    assert.equal(readFileSync(join(drvsDir, 'h2/vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv'), 'utf8'), 'hello\nwörld \x1b[1mbold\x1b[0m\n\n');
  });

  it('a compressed log is REST.bz2 that bzip2 decompresses, with no plain or temporary file left', async () => {
    await writeLog(['hello', 'world'], true);
    assert.deepEqual(readdirSync(join(drvsDir, 'h2')), ['vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv.bz2']);
    assert.equal(bunzip2(join(drvsDir, 'h2/vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv.bz2')).toString(), 'hello\nworld\n');
  });

  it('an empty build still leaves a log that reads as empty', async () => {
    await writeLog([], true);
    assert.deepEqual(await readBuildLog(layout, DRV), Buffer.alloc(0));
  });

  it('an empty log needs no bzip2 process, and is still a .bz2 that bzip2 accepts', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      await writeLog([], true);
    } finally {
      process.env['PATH'] = path;
    }
    const file = join(drvsDir, 'h2/vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv.bz2');
    assert.equal(spawnSync('bzip2', ['-t', file]).status, 0);
    assert.equal(bunzip2(file).length, 0);
  });

  it('reads back what it wrote, compressed or not', async () => {
    for (const compress of [false, true]) {
      await writeLog(['one', 'two'], compress);
      assert.equal((await readBuildLog(layout, DRV))?.toString(), 'one\ntwo\n', `compress=${compress}`);
    }
  });

  it('a new compressed log replaces an earlier plain one, which readers would try first', async () => {
    await writeLog(['old build'], false);
    await writeLog(['new build'], true);
    assert.equal((await readBuildLog(layout, DRV))?.toString(), 'new build\n');
    await writeLog(['newest build'], false);
    assert.deepEqual(readdirSync(join(drvsDir, 'h2')), ['vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv']);
  });

  it('the log can be read while the build is still writing it', async () => {
    const writer = BuildLogWriter.open(layout, DRV, true);
    const line = 'x'.repeat(99);
    for (let i = 0; i < 2000; i++) writer.writeLine(line);
    const partial = await readBuildLog(layout, DRV);
    assert.ok(partial !== undefined && partial.length > 0 && partial.length <= 200_000, `partial log of ${partial?.length} bytes`);
    assert.equal(partial.toString(), `${line}\n`.repeat(partial.length / 100));
    await writer.close();
    assert.equal((await readBuildLog(layout, DRV))?.length, 200_000);
  });

  it('a log written across many turns of the event loop, while bzip2 catches up, is complete', async () => {
    const writer = BuildLogWriter.open(layout, DRV, true);
    let expected = '';
    for (let turn = 0; turn < 200; turn++) {
      // Like a builder's output arriving in pipe-sized pieces, some larger than a flush.
      for (let i = 0; i < (turn % 7) * 300; i++) {
        const line = `turn ${turn} line ${i} ${'y'.repeat(turn % 50)}`;
        writer.writeLine(line);
        expected += line + '\n';
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writer.close();
    assert.equal((await readBuildLog(layout, DRV))?.toString(), expected);
  });

  it('without a bzip2 program, close() says so and the plain log stays readable', async () => {
    const path = process.env['PATH'];
    process.env['PATH'] = '/nonexistent';
    try {
      const writer = BuildLogWriter.open(layout, DRV, true);
      for (let i = 0; i < 5000; i++) writer.writeLine(`line ${i} ${'w'.repeat(60)}`);
      await assert.rejects(writer.close(), /cannot compress build log '.*vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest\.drv\.bz2': bzip2: spawn bzip2 ENOENT/);
    } finally {
      process.env['PATH'] = path;
    }
    assert.deepEqual(readdirSync(join(drvsDir, 'h2')), ['vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv']);
    assert.equal((await readBuildLog(layout, DRV))?.toString().split('\n').length, 5001);
  });

  it('there is no log of a derivation that never built', async () => {
    assert.equal(await readBuildLog(layout, DRV), undefined);
    assert.equal(await openBuildLog(layout, DRV), undefined);
  });

  it("reads logs in nix's older flat layout, drvs/BASE[.bz2]", async () => {
    mkdirSync(drvsDir, { recursive: true });
    writeFileSync(join(drvsDir, 'h2vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv'), 'flat\n');
    assert.equal((await readBuildLog(layout, DRV))?.toString(), 'flat\n');
  });

  it('a corrupt .bz2 counts as no log, as in nix', async () => {
    mkdirSync(join(drvsDir, 'h2'), { recursive: true });
    writeFileSync(join(drvsDir, 'h2/vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv.bz2'), 'BZh9 not really');
    assert.equal(await readBuildLog(layout, DRV), undefined);
  });

  it('a 48 MiB log streams through bzip2 without the driver holding it', async function () {
    this.timeout(300_000);
    const writer = BuildLogWriter.open(layout, DRV, true);
    const expected = createHash('sha256');
    // Buffers (arrayBuffers) are what a writer that queued the log for bzip2 would pile up;
    // resident memory also counts garbage not yet collected, so it says little here.
    const before = process.memoryUsage().arrayBuffers;
    let peak = before;
    // Lines that differ (a counter) so bzip2 has real work and lags behind the writer.
    for (let i = 0; i < 500_000; i++) {
      const line = `[${i}] cc -O2 -c src/module${i % 977}.c -o build/module${i % 977}.o -DSEED=${(i * 7919) % 100_003} ok`.padEnd(99, '.');
      writer.writeLine(line);
      expected.update(line + '\n');
      if (i % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }
    await writer.close();
    assert.ok(peak - before < 16 * 1024 * 1024, `buffers grew by ${((peak - before) / 2 ** 20).toFixed(1)} MiB`);
    const file = join(drvsDir, 'h2/vf5hji1yp7v8rrpyd8pij9cppsvrl7-logtest.drv.bz2');
    assert.ok(existsSync(file));
    const log = await openBuildLog(layout, DRV);
    assert.ok(log);
    const actual = createHash('sha256');
    for await (const chunk of log.stream) actual.update(chunk as Buffer);
    await log.done;
    assert.equal(actual.digest('hex'), expected.digest('hex'));
  });
});
