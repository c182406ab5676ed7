/**
 * A scheduler for one operation of one connection: the client's options over the daemon's
 * settings, its events as log lines on the connection, its builds shared with every other
 * connection's (one build of a derivation however many clients need it), and everything it
 * alone waits for stopped when the client hangs up.
 */
import { buildSettingsFrom } from '../build/buildSettings.js';
import type { BuildMode } from '../build/buildStep.js';
import { lineEvents } from '../build/events.js';
import { Scheduler } from '../build/scheduler.js';
import { openSubstituters } from '../substituters/openSubstituters.js';
import type { DaemonConnection } from './connection.js';
import { encodeLogLine } from './protocol.js';
import { recursiveStoreServer } from './recursiveStore.js';

/** Runs `work` with a scheduler for this connection; its substituters are closed after. */
export async function withClientScheduler<T>(conn: DaemonConnection, mode: BuildMode, work: (scheduler: Scheduler) => Promise<T>): Promise<T> {
  const { store } = conn.ctx;
  // The client's options (SetOptions) over the daemon's settings: -k, --fallback, timeouts, …
  // A recursive build's store fetches nothing: it would reach paths the build may not see.
  const substituters = conn.ctx.restriction ? [] : openSubstituters(conn.settings, store.storeDir);
  try {
    const scheduler = new Scheduler(store, {
      settings: buildSettingsFrom(conn.settings),
      // Small writes, not waited for.
      events: lineEvents((text) => conn.sendNow(encodeLogLine(text))),
      mode,
      substituters,
      shared: conn.ctx.builds,
      // A recursive build's inner builds stay here: its store must see what they make.
      ...(conn.ctx.remote && !conn.ctx.restriction ? { remote: conn.ctx.remote } : {}),
      // Builds of the daemon's clients may be recursive; builds inside one are not (yet).
      ...(conn.ctx.restriction ? {} : { recursive: recursiveStoreServer(conn.ctx.log) }),
    });
    // Nobody waits for these builds any more: stop them (their builders are killed, nothing
    // half-built becomes valid), unless another connection still waits for a shared one.
    const stopListening = conn.onHangUp(() => scheduler.cancel(new Error('the client disconnected')));
    try {
      return await work(scheduler);
    } finally {
      stopListening();
    }
  } finally {
    await Promise.all(substituters.map((s) => s.close()));
  }
}
