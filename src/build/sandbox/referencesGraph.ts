import { SandboxPolicyError } from './errors.js';

/** The closure of some store paths with each path's references (what the store knows). */
export type ReferenceGraphQuery = (paths: string[]) => Promise<ReadonlyMap<string, readonly string[]>> | ReadonlyMap<string, readonly string[]>;

const FILE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * The files `exportReferencesGraph` asks for: for each `<file> <store path>` pair, the closure
 * of the path, in sorted order, each as "<path>\n\n<count>\n<reference>...\n" (the empty line
 * is the deriver slot, empty as in Nix 2.8).
 */
export async function referenceGraphFiles(
  value: string | undefined,
  inputClosure: ReadonlySet<string>,
  query: ReferenceGraphQuery | undefined,
  drvName: string,
): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const words = (value ?? '').split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return files;
  if (words.length % 2 !== 0) throw new SandboxPolicyError(`odd number of tokens in 'exportReferencesGraph' of derivation '${drvName}'`);
  if (!query) throw new SandboxPolicyError(`derivation '${drvName}' uses 'exportReferencesGraph' but no store was given to compute closures`);
  for (let i = 0; i < words.length; i += 2) {
    const fileName = words[i]!;
    const path = words[i + 1]!;
    if (!FILE_NAME.test(fileName)) throw new SandboxPolicyError(`invalid file name '${fileName}' in 'exportReferencesGraph'`);
    if (!inputClosure.has(path)) throw new SandboxPolicyError(`'exportReferencesGraph' contains a non-store path '${path}' or one outside the inputs of '${drvName}'`);
    const graph = await query([path]);
    const lines = [...graph.keys()].sort().map((p) => {
      const refs = [...(graph.get(p) ?? [])].sort();
      return `${p}\n\n${refs.length}\n${refs.map((r) => `${r}\n`).join('')}`;
    });
    files.set(fileName, lines.join(''));
  }
  return files;
}
