import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../support/fixtures.js';

/** test/security/attacks/attack.c built static (once per source version), for use as a builder tool. */
export function attackBinary(): string {
  const source = join(repoRoot, 'test', 'security', 'attacks', 'attack.c');
  const digest = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'tsnix-attack-bin');
  const binary = join(dir, `attack-${digest}`);
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const partial = `${binary}.${process.pid}`;
    execFileSync(process.env['CC'] ?? 'cc', ['-static', '-O1', '-o', partial, source], { stdio: 'inherit' });
    renameSync(partial, binary);
  }
  return binary;
}

/** Each "<name>: <result>" line the attack program printed, as a map. */
export function attackResults(log: string[]): Map<string, string> {
  const results = new Map<string, string>();
  for (const line of log) {
    const match = /^([a-z0-9-]+): (.*)$/.exec(line);
    if (match) results.set(match[1]!, match[2]!);
  }
  return results;
}

/** Adds the attack program to a test store as a store path; returns that path. */
export function addAttackBinary(store: { addFile(name: string, file: string, contents: Buffer, mode: number): string }): string {
  return store.addFile('attack', 'attack', readFileSync(attackBinary()), 0o555);
}
