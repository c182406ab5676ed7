/**
 * The `builders` setting, in nix.conf's syntax: machines separated by newlines or `;`, each
 * `URI [SYSTEMS [SSH-KEY [MAX-JOBS [SPEED-FACTOR [FEATURES [MANDATORY-FEATURES [HOST-KEY]]]]]]]`,
 * `-` for a default, lists comma-separated; `@FILE` reads machines from FILE.
 */
import { readFileSync } from 'node:fs';

export class BadMachineError extends Error {
  override name = 'BadMachineError';
}

export interface Machine {
  uri: string;
  systems: string[];
  sshKey: string | undefined;
  maxJobs: number;
  speedFactor: number;
  supportedFeatures: string[];
  mandatoryFeatures: string[];
}

function field(fields: string[], i: number): string | undefined {
  const value = fields[i];
  return value === undefined || value === '-' || value === '' ? undefined : value;
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').filter((v) => v !== '');
}

function count(value: string | undefined, what: string, line: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]+$/.test(value)) throw new BadMachineError(`bad ${what} '${value}' in the machine specification '${line}'`);
  return Number(value);
}

/** The machines of `builders`; `system` is the default of a machine that names none. */
export function parseMachines(text: string, system: string, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): Machine[] {
  const machines: Machine[] = [];
  for (const raw of text.split(/[\n;]/)) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    if (line.startsWith('@')) {
      let content: string;
      try {
        content = readFile(line.slice(1));
      } catch (e) {
        // As Nix: a machines file that is not there names no machines (`@/etc/nix/machines` is common).
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new BadMachineError(`cannot read the builders file '${line.slice(1)}': ${(e as Error).message}`);
      }
      machines.push(...parseMachines(content, system, readFile));
      continue;
    }
    const fields = line.split(/\s+/);
    // As Nix: a bare `[user@]host` is an ssh:// machine.
    const uri = fields[0]!.includes('://') ? fields[0]! : `ssh://${fields[0]!}`;
    if (!uri.startsWith('ssh://')) throw new BadMachineError(`machine '${uri}': tsnix builds remotely over ssh:// (the serve protocol) only`);
    const systems = list(field(fields, 1));
    const maxJobs = count(field(fields, 3), 'number of jobs', line, 1);
    // A machine of no jobs takes none.
    if (maxJobs === 0) continue;
    machines.push({
      uri,
      systems: systems.length > 0 ? systems : [system],
      sshKey: field(fields, 2),
      maxJobs,
      speedFactor: count(field(fields, 4), 'speed factor', line, 1) || 1,
      supportedFeatures: list(field(fields, 5)),
      mandatoryFeatures: list(field(fields, 6)),
    });
  }
  return machines;
}

/** Whether `machine` may build for `platform` with `required` features, as Nix decides. */
export function machineFits(machine: Machine, platform: string, required: readonly string[]): boolean {
  if (!machine.systems.includes(platform)) return false;
  const supported = new Set([...machine.supportedFeatures, ...machine.mandatoryFeatures]);
  if (!required.every((f) => supported.has(f))) return false;
  return machine.mandatoryFeatures.every((f) => required.includes(f));
}
