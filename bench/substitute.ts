/**
 * Substitution at the round-trip limit: the 1,054-path `layered` closure of ../shared/bench in
 * a binary cache behind a server that waits 100 ms before every answer (slow_http.py for
 * HTTP/1.1, slowHttp2.ts for HTTP/2), fetched into an empty store by nix-store and by
 * tsnix-store side by side. Prints the query phase (`-r --dry-run`) and the full substitution
 * (`-j16`), with the requests and peak connections the server saw.
 *
 *   node dist/bench/substitute.js [--reps N] [--only nix|tsnix] [--scenario TEXT] [--delay SECONDS] [--workdir DIR]
 *
 * `--scenario TEXT` runs only the scenarios whose name contains TEXT (`-j16`, `HTTP/2`).
 *
 * After the table it prints the floor of the query on each server: the time of a client that
 * does no work at all (substituteFloor.ts), below which no client can go on that server.
 *
 * The cache is made once per run: the graph is built with tsnix and copied with --copy-to.
 * Each timed run starts from an empty store and an empty narinfo disk cache (both tools keep
 * one under $XDG_CACHE_HOME), so neither is helped by an earlier run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareWorkload, type Shape } from './buildWorkloads.js';
import { flag, median, repoRoot, tsnixStore } from './lib.js';
import { http1Floor, http2Floor, narInfoGraph } from './substituteFloor.js';

const argv = process.argv.slice(2);
const reps = Number(flag('--reps') ?? 1);
const only = flag('--only');
const delay = flag('--delay') ?? '0.1';
const workDir = mkdtempSync(join(flag('--workdir') ?? '/tmp', 'tsnix-bench-subst-'));
const sharedBench = flag('--shared') ?? '/work/shared/bench';
const tools = (only ? [only] : ['nix', 'tsnix']) as ('nix' | 'tsnix')[];
const scenarioFilter = flag('--scenario');

function run(program: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(program, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.slice(-800)}`);
  return r.stdout;
}

function startServer(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

async function waitForPort(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`server at ${url} did not start`);
}

interface Stats {
  requests: number;
  max_concurrency: number;
  max_connections?: number;
}

async function stats(statsUrl: string, reset = false): Promise<Stats> {
  // A kept-alive connection to the stats server may be closed by it just as it is reused
  // after a long run ('fetch failed'): asked again.
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${statsUrl}/${reset ? '__reset' : '__stats'}`);
      return (await response.json()) as Stats;
    } catch (error) {
      if (attempt >= 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

// 1. The cache: the layered graph built by tsnix, copied out with --copy-to (xz, as nix copy writes).
console.log(`substitution benchmark: ${new Date().toISOString()}, delay ${delay} s, reps ${reps}, work dir ${workDir}`);
const workload = prepareWorkload('layered' as Shape, workDir, join(sharedBench, 'workloads'), '/bin/busybox');
const source = join(workDir, 'source');
run('cp', ['-a', workload.template, source]);
run(tsnixStore, ['--store', source, '--option', 'substituters', '', '-j', '2', '-r', workload.topDrv]);
const cacheDir = join(workDir, 'cache');
run(tsnixStore, ['--store', source, '--copy-to', `file://${cacheDir}?compression=xz`, workload.topOut]);
const closure = run(tsnixStore, ['--store', source, '-qR', workload.topOut]).split('\n').filter((l) => l);
console.log(`cache: ${closure.length} paths in the closure of ${workload.topOut}`);

// 2. The servers: HTTP/1.1 (the shared slow_http.py) and HTTP/2 over TLS (a self-signed certificate).
const h1Port = 18700 + (process.pid % 200);
const h2Port = h1Port + 300;
const h2StatsPort = h1Port + 600;
const cert = join(workDir, 'cert.pem');
const key = join(workDir, 'key.pem');
run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
const h1 = startServer('python3', [join(sharedBench, 'slow_http.py'), cacheDir, String(h1Port), delay]);
const h2 = startServer(process.execPath, [join(repoRoot, 'dist/bench/slowHttp2.js'), cacheDir, String(h2Port), delay, cert, key, String(h2StatsPort)]);
const h1Url = `http://127.0.0.1:${h1Port}`;
const h2Url = `https://127.0.0.1:${h2Port}`;
const h2Stats = `http://127.0.0.1:${h2StatsPort}`;

interface Scenario {
  name: string;
  tools: ('nix' | 'tsnix')[];
  url: string;
  statsUrl: string;
  args: string[];
  /** nix-store's goal for tsnix, as a ratio of nix's time, or seconds when only tsnix runs. */
  goal: string;
}

const scenarios: Scenario[] = [
  { name: 'query (-r --dry-run), HTTP/1.1, http-connections 25', tools, url: h1Url, statsUrl: h1Url, args: ['-r', '--dry-run'], goal: '<= 0.70x, <= 25 conns' },
  { name: 'query, HTTP/1.1, http-connections 150', tools, url: h1Url, statsUrl: h1Url, args: ['--option', 'http-connections', '150', '-r', '--dry-run'], goal: '<= 1.2 s' },
  // nix runs against the HTTP/2 server too (its curl speaks HTTP/2 over TLS): the goals are
  // the issue's, stated against nix on HTTP/1.1, but the same-server ratio is shown as well.
  { name: 'query, HTTP/2, defaults', tools, url: h2Url, statsUrl: h2Stats, args: ['-r', '--dry-run'], goal: '<= 1.2 s, few conns' },
  { name: 'full substitution -j16, HTTP/1.1', tools, url: h1Url, statsUrl: h1Url, args: ['-j', '16', '-r'], goal: '<= 0.50x' },
  { name: 'full substitution -j16, HTTP/2', tools, url: h2Url, statsUrl: h2Stats, args: ['-j', '16', '-r'], goal: '<= 0.50x of nix on HTTP/1.1' },
];

interface Result {
  seconds: number[];
  requests: number;
  peak: number;
  connections?: number;
}

async function main(): Promise<void> {
  await waitForPort(`${h1Url}/__stats`);
  await waitForPort(`${h2Stats}/__stats`);
  const table: { scenario: Scenario; results: Partial<Record<'nix' | 'tsnix', Result>> }[] = [];
  for (const scenario of scenarios) {
    if (scenarioFilter !== undefined && !scenario.name.includes(scenarioFilter)) continue;
    const results: Partial<Record<'nix' | 'tsnix', Result>> = {};
    for (let rep = 0; rep < reps; rep++) {
      for (const tool of scenario.tools) {
        const root = join(workDir, `store-${tool}`);
        const cacheHome = join(workDir, `xdg-${tool}`);
        rmSync(root, { recursive: true, force: true });
        rmSync(cacheHome, { recursive: true, force: true });
        mkdirSync(cacheHome, { recursive: true });
        await stats(scenario.statsUrl, true);
        const program = tool === 'nix' ? 'nix-store' : tsnixStore;
        const env: NodeJS.ProcessEnv = { XDG_CACHE_HOME: cacheHome, NIX_SSL_CERT_FILE: cert };
        const args = ['--store', root, '--option', 'substituters', scenario.url, '--option', 'require-sigs', 'false', ...scenario.args, workload.topOut];
        const start = process.hrtime.bigint();
        const r = spawnSync(program, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, ...env } });
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        if (r.status !== 0) throw new Error(`${tool} failed (${r.status}) in '${scenario.name}': ${r.stderr.slice(-600)}`);
        if (!scenario.args.includes('--dry-run') && !existsSync(join(root, workload.topOut))) throw new Error(`${tool}: ${workload.topOut} missing after '${scenario.name}'`);
        const seen = await stats(scenario.statsUrl);
        const result = (results[tool] ??= { seconds: [], requests: seen.requests, peak: seen.max_concurrency, ...(seen.max_connections !== undefined ? { connections: seen.max_connections } : {}) });
        result.seconds.push(seconds);
        console.log(`  ${scenario.name} / ${tool} rep ${rep + 1}: ${seconds.toFixed(3)} s, ${seen.requests} requests, peak ${seen.max_concurrency} at once${seen.max_connections !== undefined ? `, ${seen.max_connections} connections` : ''}`);
      }
    }
    table.push({ scenario, results });
  }
  console.log('');
  console.log(`${'scenario'.padEnd(52)} ${'nix s'.padStart(8)} ${'req'.padStart(5)} ${'peak'.padStart(5)}   ${'tsnix s'.padStart(8)} ${'req'.padStart(5)} ${'peak'.padStart(5)}  ratio  goal`);
  for (const { scenario, results } of table) {
    const cell = (r: Result | undefined): string =>
      r ? `${median(r.seconds).toFixed(3).padStart(8)} ${String(r.requests).padStart(5)} ${String(r.connections ?? r.peak).padStart(5)}` : `${'-'.padStart(8)} ${'-'.padStart(5)} ${'-'.padStart(5)}`;
    const ratio = results.nix && results.tsnix ? (median(results.tsnix.seconds) / median(results.nix.seconds)).toFixed(2) : '-';
    console.log(`${scenario.name.padEnd(52)} ${cell(results.nix)}   ${cell(results.tsnix)}  ${ratio.padStart(5)}  ${scenario.goal}`);
  }
  console.log('(peak: most requests at once for HTTP/1.1, where each needs a connection; connections for HTTP/2)');
  await printFloors();
  writeFileSync(join(workDir, 'done'), '');
}

/** The query's floor on each server (medians of `reps`), and the full substitution's by arithmetic. */
async function printFloors(): Promise<void> {
  const graph = narInfoGraph(cacheDir);
  const top = `${workload.topOut.slice('/nix/store/'.length, '/nix/store/'.length + 32)}.narinfo`;
  const floors: [string, () => Promise<number>][] = [
    ['query, HTTP/1.1, 25 connections', () => http1Floor(graph, top, h1Url, 25)],
    ['query, HTTP/1.1, 150 connections', () => http1Floor(graph, top, h1Url, 150)],
    ['query, HTTP/2', () => http2Floor(graph, top, h2Url, readFileSync(cert))],
  ];
  console.log('');
  console.log(`floor: a client that does no work, only waits for each answer naming a path (bench/substituteFloor.ts); medians of ${reps}`);
  for (const [name, run] of floors) {
    const seconds: number[] = [];
    for (let rep = 0; rep < reps; rep++) seconds.push(await run());
    console.log(`  ${name.padEnd(40)} ${median(seconds).toFixed(3)} s`);
  }
  const requests = 1 + 2 * graph.size;
  console.log(`  ${'full substitution, HTTP/1.1, 25 conns'.padEnd(40)} ${((requests * Number(delay)) / 25).toFixed(3)} s at least (${requests} requests of ${delay} s each over 25 connections)`);
}

main()
  .finally(() => {
    h1.kill();
    h2.kill();
    if (!argv.includes('--keep')) rmSync(workDir, { recursive: true, force: true });
  })
  .catch((error: Error) => {
    console.error(error.message);
    process.exitCode = 1;
  });
