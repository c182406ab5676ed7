/**
 * nix-store's command line: exactly one operation flag, its options, the common
 * options (`--store ROOT`, `--option NAME VALUE`), and arguments.
 */
import yargs from 'yargs';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const OPERATIONS = [
  'add', 'add-fixed', 'query', 'dump', 'restore', 'export', 'import',
  'verify', 'verify-path', 'check-validity', 'print-fixed-path', 'version', 'help',
] as const;
export type Operation = (typeof OPERATIONS)[number];

export const QUERIES = [
  'outputs', 'requisites', 'references', 'referrers', 'referrers-closure',
  'deriver', 'graph', 'tree', 'hash', 'size', 'binding',
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
};

/** How many arguments each operation takes, with nix-store's complaint otherwise. */
function checkArgumentCount(operation: Operation, count: number): void {
  if ((operation === 'import' || operation === 'verify' || operation === 'version' || operation === 'help') && count > 0) {
    throw new UsageError('no arguments expected');
  }
  if ((operation === 'dump' || operation === 'restore') && count !== 1) throw new UsageError('only one argument allowed');
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
}

/** Pulls out the flags that take two values or that yargs would mangle, before yargs sees the rest. */
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

export function parseArgs(argv: string[]): ParsedArgs {
  const { rest, options, store } = takeCommonOptions(argv);
  const parsed = yargs(rest)
    .parserConfiguration({
      'camel-case-expansion': false,
      'boolean-negation': false,
      'halt-at-non-option': false,
      // Arguments are paths and names: `1e2` must stay `1e2`, never become 100.
      'parse-numbers': false,
      'parse-positional-numbers': false,
    })
    .help(false)
    .version(false)
    .strictOptions()
    .exitProcess(false)
    .fail((message: string | undefined, error: Error | undefined) => {
      throw new UsageError(error?.message ?? message ?? 'bad arguments');
    })
    .options({
      add: { type: 'boolean' },
      'add-fixed': { type: 'boolean' },
      query: { type: 'boolean', alias: 'q' },
      dump: { type: 'boolean' },
      restore: { type: 'boolean' },
      export: { type: 'boolean' },
      import: { type: 'boolean' },
      verify: { type: 'boolean' },
      'verify-path': { type: 'boolean' },
      'check-validity': { type: 'boolean' },
      'print-fixed-path': { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean' },
      outputs: { type: 'boolean' },
      requisites: { type: 'boolean', alias: 'R' },
      references: { type: 'boolean' },
      referrers: { type: 'boolean' },
      'referrers-closure': { type: 'boolean' },
      deriver: { type: 'boolean', alias: 'd' },
      graph: { type: 'boolean' },
      tree: { type: 'boolean' },
      hash: { type: 'boolean' },
      size: { type: 'boolean' },
      binding: { type: 'string', alias: 'b' },
      recursive: { type: 'boolean' },
      'include-outputs': { type: 'boolean' },
      'use-output': { type: 'boolean', alias: 'u' },
      'check-contents': { type: 'boolean' },
      repair: { type: 'boolean' },
      'print-invalid': { type: 'boolean' },
    })
    .parseSync();

  const chosen = OPERATIONS.filter((op) => parsed[op] === true);
  if (chosen.length > 1) throw new UsageError(`only one operation may be specified (got --${chosen.join(', --')})`);
  if (chosen.length === 0) throw new UsageError('no operation specified');
  const operation = chosen[0]!;
  const allowed = new Set<string>([...OPERATIONS, ...OPERATION_FLAGS[operation]]);
  for (const flag of [...OPERATION_FLAGS.query, ...OPERATION_FLAGS.verify, 'recursive', 'print-invalid']) {
    const given = flag === 'binding' ? parsed.binding !== undefined : parsed[flag as keyof typeof parsed] === true;
    if (given && !allowed.has(flag)) throw new UsageError(`unknown flag '--${flag}'`);
  }
  const queries = QUERIES.filter((q) => (q === 'binding' ? parsed.binding !== undefined : parsed[q] === true));
  if (queries.length > 1) throw new UsageError('query type already specified');
  const args = parsed._.map(String);
  checkArgumentCount(operation, args.length);
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
  };
}
