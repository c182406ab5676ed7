import { UsageError, type ParsedArgs } from '../args.js';
import type { LocalStore } from '../../store/localStore.js';

// Being written (issue 5).
export async function opAddDrv(_store: LocalStore, parsed: ParsedArgs): Promise<number> {
  throw new UsageError(`operation --${parsed.operation} is not supported yet`);
}
