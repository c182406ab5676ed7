/** Writing derivations made with the derivation API into a store, with everything they depend on. */
import { addDerivations } from '../store/addDerivation.js';
import type { LocalStore } from '../store/localStore.js';
import type { DerivationHandle } from './derivationApi.js';

/** `handles` and every derivation they depend on, each once, inputs first. */
export function derivationClosure(handles: readonly DerivationHandle[]): DerivationHandle[] {
  const ordered: DerivationHandle[] = [];
  const seen = new Set<string>();
  // Iterative post-order: graphs may be long chains.
  const stack: { handle: DerivationHandle; next: number }[] = [];
  for (const root of handles) {
    if (seen.has(root.drvPath)) continue;
    seen.add(root.drvPath);
    stack.push({ handle: root, next: 0 });
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const input = frame.handle.inputHandles[frame.next++];
      if (input === undefined) {
        stack.pop();
        ordered.push(frame.handle);
      } else if (!seen.has(input.drvPath)) {
        seen.add(input.drvPath);
        stack.push({ handle: input, next: 0 });
      }
    }
  }
  return ordered;
}

/**
 * Writes `handles` and everything they depend on into `store` (see addDerivations: all or
 * nothing). Returns every `.drv` path of that closure, inputs first.
 */
export async function writeDerivations(store: LocalStore, handles: readonly DerivationHandle[]): Promise<string[]> {
  const closure = derivationClosure(handles);
  return addDerivations(store, closure.map((h) => ({ drv: h.drv, expectedPath: h.drvPath })));
}
