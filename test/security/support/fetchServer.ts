import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { waitUntil } from './processes.js';

/**
 * An HTTP server in a network namespace the test creates, joined to the host by a veth pair
 * on a private /30: a stand-in for "the internet" that a fixed-output build may fetch from,
 * without the test talking to anything outside the machine.
 */
export interface FetchServer {
  url: string;
  host: string;
  port: number;
  stop(): void;
}

function ip(...args: string[]): void {
  const res = spawnSync('ip', args, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`ip ${args.join(' ')}: ${res.stderr.trim()}`);
}

export async function startFetchServer(content: string): Promise<FetchServer> {
  const tag = randomBytes(3).toString('hex');
  const ns = `tsnix-fetch-${tag}`;
  const hostSide = `tsh${tag}`;
  const nsSide = `tsn${tag}`;
  const subnet = `10.253.${randomBytes(1)[0]! & 0xfc}`;
  const www = mkdtempSync(join(tmpdir(), 'tsnix-fetch-www-'));
  writeFileSync(join(www, 'payload'), content);
  let server: ChildProcess | undefined;
  const stop = (): void => {
    server?.kill('SIGKILL');
    spawnSync('ip', ['link', 'del', hostSide]);
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(www, { recursive: true, force: true });
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
    ip('link', 'set', nsSide, 'netns', ns);
    ip('addr', 'add', `${subnet}.1/30`, 'dev', hostSide);
    ip('link', 'set', hostSide, 'up');
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${subnet}.2/30`, 'dev', nsSide);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', nsSide, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    server = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', '8080', '-h', www], { stdio: 'ignore' });
    const url = `http://${subnet}.2:8080/payload`;
    const up = await waitUntil(() => spawnSync('busybox', ['wget', '-q', '-O', '/dev/null', url]).status === 0, 20000);
    if (!up) throw new Error(`the test HTTP server at ${url} did not come up`);
    return { url, host: `${subnet}.2`, port: 8080, stop };
  } catch (error) {
    stop();
    throw error;
  }
}
