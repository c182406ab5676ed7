/**
 * nix-store's command line: exactly one operation flag, its options, the common
 * options (`--store ROOT`, `--option NAME VALUE`), and arguments.
 */
import { parseArgs as parseUtilArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const OPERATIONS = [
  'add', 'add-fixed', 'query', 'dump', 'restore', 'export', 'import',
  'verify', 'verify-path', 'check-validity', 'print-fixed-path', 'version', 'help',
  'realise', 'add-drv', 'read-log', 'repair-path', 'generate-binary-cache-key', 'copy-to',
  'gc', 'delete', 'optimise', 'serve', 'copy-from',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const QUERIES = [
  'outputs', 'requisites', 'references', 'referrers', 'referrers-closure',
  'deriver', 'graph', 'tree', 'hash', 'size', 'binding', 'roots',
] as const;
export type Query = (typeof QUERIES)[number];

/** The flags each operation takes besides the common ones (`--store`, `--option`). */
const OPERATION_FLAGS: Readonly<Record<Operation, readonly string[]>> = {
  add: [],
  'add-fixed': ['recursive'],
  query: [...QUERIES, 'include-outputs', 'use-output'],
  dump: [],
  restore: [],
  export: [],
  import: [],
  verify: ['check-contents', 'repair'],
  'verify-path': [],
  'check-validity': ['print-invalid'],
  'print-fixed-path': ['recursive'],
  version: [],
  help: [],
  realise: ['dry-run', 'check', 'repair'],
  'add-drv': [],
  'read-log': [],
  'repair-path': [],
  'generate-binary-cache-key': [],
  'copy-to': [],
  gc: ['print-roots', 'print-live', 'print-dead', 'max-freed'],
  delete: ['ignore-liveness'],
  optimise: [],
  serve: ['write'],
  'copy-from': [],
};

/**
 * Nix's common build flags, accepted by every operation (as nix-store does) and turned into
 * the settings they stand for: `-j 4` is `--option max-jobs 4`.
 */
const SETTING_FLAGS: Readonly<Record<string, { setting: string; value?: string }>> = {
  'max-jobs': { setting: 'max-jobs' },
  cores: { setting: 'cores' },
  timeout: { setting: 'timeout' },
  'max-silent-time': { setting: 'max-silent-time' },
  'max-build-log-size': { setting: 'max-build-log-size' },
  'build-max-log-size': { setting: 'max-build-log-size' },
  'keep-going': { setting: 'keep-going', value: 'true' },
  'keep-failed': { setting: 'keep-failed', value: 'true' },
  fallback: { setting: 'fallback', value: 'true' },
};

/** How many arguments each operation takes, with nix-store's complaint otherwise. */
function checkArgumentCount(operation: Operation, count: number): void {
  if ((operation === 'import' || operation === 'verify' || operation === 'version' || operation === 'help') && count > 0) {
    throw new UsageError('no arguments expected');
  }
  if ((operation === 'dump' || operation === 'restore') && count !== 1) throw new UsageError('only one argument allowed');
  if (operation === 'add-drv' && count === 0) throw new UsageError('--add-drv needs at least one file');
  if (operation === 'generate-binary-cache-key' && count !== 3) throw new UsageError('three arguments expected');
  if ((operation === 'gc' || operation === 'optimise' || operation === 'serve') && count > 0) throw new UsageError('no arguments expected');
  if (operation === 'copy-to' && count < 2) throw new UsageError('--copy-to needs a store URI and at least one path');
  if (operation === 'copy-from' && count < 2) throw new UsageError('--copy-from needs a store URI and at least one path');
}

export interface ParsedArgs {
  operation: Operation;
  query: Query;
  binding?: string;
  args: string[];
  options: [string, string][];
  store?: string;
  recursive: boolean;
  includeOutputs: boolean;
  useOutput: boolean;
  checkContents: boolean;
  repair: boolean;
  printInvalid: boolean;
  dryRun: boolean;
  check: boolean;
  /** `--gc`: what to do instead of deleting. */
  gcPrint?: 'roots' | 'live' | 'dead';
  /** `--gc --max-freed N` in bytes. */
  maxFreed?: number;
  ignoreLiveness: boolean;
  /** `--serve --write`: imports and builds allowed. */
  write: boolean;
  /** `--add-root PATH` and `--indirect`. */
  addRoot?: string;
  indirect: boolean;
}

/** Pulls out `--option NAME VALUE` (two values) and `--store ROOT` before the flag parser sees the rest. */
function takeCommonOptions(argv: string[]): { rest: string[]; options: [string, string][]; store?: string } {
  const rest: string[] = [];
  const options: [string, string][] = [];
  let store: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--option') {
      if (i + 2 >= argv.length) throw new UsageError("flag '--option' requires 2 arguments");
      options.push([argv[i + 1]!, argv[i + 2]!]);
      i += 2;
    } else if (arg === '--store') {
      if (i + 1 >= argv.length) throw new UsageError("flag '--store' requires 1 argument");
      store = argv[++i];
    } else if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    } else {
      rest.push(arg);
    }
  }
  return { rest, options, store };
}

/** Flags as node:util's parseArgs takes them: every one a boolean but `--binding`/`-b`. */
const FLAG_OPTIONS = {
  ...Object.fromEntries([...OPERATIONS, ...QUERIES.filter((q) => q !== 'binding'), 'recursive', 'include-outputs', 'use-output', 'check-contents', 'repair', 'print-invalid', 'dry-run', 'check', 'indirect', 'fallback', 'print-roots', 'print-live', 'print-dead', 'ignore-liveness', 'write'].map((name) => [name, { type: 'boolean' as const }])),
  query: { type: 'boolean', short: 'q' },
  realise: { type: 'boolean', short: 'r' },
  realize: { type: 'boolean' },
  optimize: { type: 'boolean' },
  'max-freed': { type: 'string' },
  'read-log': { type: 'boolean', short: 'l' },
  'max-jobs': { type: 'string', short: 'j' },
  cores: { type: 'string' },
  timeout: { type: 'string' },
  'max-silent-time': { type: 'string' },
  'max-build-log-size': { type: 'string' },
  'build-max-log-size': { type: 'string' },
  'keep-going': { type: 'boolean', short: 'k' },
  'keep-failed': { type: 'boolean', short: 'K' },
  'add-root': { type: 'string' },
  requisites: { type: 'boolean', short: 'R' },
  deriver: { type: 'boolean', short: 'd' },
  'use-output': { type: 'boolean', short: 'u' },
  binding: { type: 'string', short: 'b' },
} as const;

type Flags = Record<string, boolean | string | undefined>;

export function parseArgs(argv: string[]): ParsedArgs {
  const { rest, options, store } = takeCommonOptions(argv);
  // node:util's parser rather than yargs: it is built in, so a command that is run in loops
  // (as nix-store is) does not pay tens of milliseconds to load a parser at every start.
  let values: Flags;
  let positionals: string[];
  try {
    ({ values, positionals } = parseUtilArgs({ args: rest, options: FLAG_OPTIONS, allowPositionals: true, strict: true }) as { values: Flags; positionals: string[] });
  } catch (e) {
    const unknown = /Unknown option '([^']+)'/.exec((e as Error).message);
    throw new UsageError(unknown ? `unknown flag '${unknown[1]}'` : (e as Error).message);
  }
  if (values['realize'] === true) values['realise'] = true;
  delete values['realize'];
  if (values['optimize'] === true) values['optimise'] = true;
  delete values['optimize'];
  const parsed = { ...values, _: positionals } as Flags & { _: string[]; binding?: string };
  for (const [flag, { setting, value }] of Object.entries(SETTING_FLAGS)) {
    const given = parsed[flag];
    if (given === undefined || given === false) continue;
    options.push([setting, value ?? String(given)]);
  }
  const chosen = OPERATIONS.filter((op) => parsed[op] === true);
  if (chosen.length > 1) throw new UsageError(`only one operation may be specified (got --${chosen.join(', --')})`);
  if (chosen.length === 0) throw new UsageError('no operation specified');
  const operation = chosen[0]!;
  const allowed = new Set<string>([...OPERATIONS, ...OPERATION_FLAGS[operation]]);
  for (const flag of [...OPERATION_FLAGS.query, ...OPERATION_FLAGS.verify, ...OPERATION_FLAGS.realise, ...OPERATION_FLAGS.gc, ...OPERATION_FLAGS.delete, 'recursive', 'print-invalid', 'write']) {
    const given = flag === 'binding' || flag === 'max-freed' ? parsed[flag] !== undefined : parsed[flag as keyof typeof parsed] === true;
    if (given && !allowed.has(flag)) throw new UsageError(`unknown flag '--${flag}'`);
  }
  const queries = QUERIES.filter((q) => (q === 'binding' ? parsed.binding !== undefined : parsed[q] === true));
  if (queries.length > 1) throw new UsageError('query type already specified');
  const args = parsed._.map(String);
  checkArgumentCount(operation, args.length);
  const prints = (['roots', 'live', 'dead'] as const).filter((what) => parsed[`print-${what}`] === true);
  const maxFreed = typeof parsed['max-freed'] === 'string' ? parseByteCount(parsed['max-freed']) : undefined;
  return {
    operation,
    query: queries[0] ?? 'outputs',
    binding: parsed.binding,
    args,
    options,
    store,
    recursive: parsed.recursive === true,
    includeOutputs: parsed['include-outputs'] === true,
    useOutput: parsed['use-output'] === true,
    checkContents: parsed['check-contents'] === true,
    repair: parsed.repair === true,
    printInvalid: parsed['print-invalid'] === true,
    dryRun: parsed['dry-run'] === true,
    check: parsed.check === true,
    ...(typeof parsed['add-root'] === 'string' ? { addRoot: parsed['add-root'] } : {}),
    indirect: parsed.indirect === true,
    ...(prints.length > 0 ? { gcPrint: prints[prints.length - 1] } : {}),
    ...(maxFreed !== undefined ? { maxFreed } : {}),
    ignoreLiveness: parsed['ignore-liveness'] === true,
    write: parsed.write === true,
  };
}

/** An integer with an optional K, M, G or T suffix (powers of 1024, either case), as nix reads sizes; negative is 0. */
export function parseByteCount(text: string): number {
  let digits = text;
  let multiplier = 1;
  const unit = text.slice(-1).toUpperCase();
  if (/[A-Z]/.test(unit)) {
    const power = 'KMGT'.indexOf(unit);
    if (power < 0) throw new UsageError(`invalid unit specifier '${unit}'`);
    multiplier = 1024 ** (power + 1);
    digits = text.slice(0, -1);
  }
  if (!/^-?\d+$/.test(digits)) throw new UsageError(`'${digits}' is not an integer`);
  return Math.max(0, Number(digits) * multiplier);
}
