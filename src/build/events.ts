/**
 * What the scheduler tells whoever shows progress (the CLI's status line, a daemon client's
 * log stream). The scheduler never writes to a terminal itself.
 */
export interface BuildEvents {
  /** The number of builds and substitutions this request will do, once known (and when it grows). */
  expect(builds: number, substitutions: number): void;
  /** A build starts: `building '/nix/store/…drv'...` in nix's words. */
  /** `machine`: the remote builder's URI when it builds elsewhere (`building '…' on '…'...`). */
  buildStarted(drvPath: string, name: string, machine?: string): void;
  /** One line of a builder's output, escape sequences other than colour already filtered out. */
  logLine(drvPath: string, line: string): void;
  buildFinished(drvPath: string, succeeded: boolean): void;
  substitutionStarted(path: string, from: string): void;
  substitutionFinished(path: string, succeeded: boolean): void;
  /** `bytes` more of a substitution's download arrived (compressed, as sent). */
  downloaded(path: string, bytes: number): void;
  /** A message for the user (warnings, `error: …` of a failed goal under --keep-going). */
  message(text: string): void;
}

/** Events that go nowhere: for tests and callers that show nothing. */
export const QUIET_EVENTS: BuildEvents = {
  expect() {},
  buildStarted() {},
  logLine() {},
  buildFinished() {},
  substitutionStarted() {},
  substitutionFinished() {},
  downloaded() {},
  message() {},
};

/**
 * Events as the lines nix prints for them (`building '…'...`, the log, messages), for a
 * daemon client's stream or a serve session's stderr; progress counts are not shown.
 */
export function lineEvents(line: (text: string) => void): BuildEvents {
  return {
    expect() {},
    buildStarted: (drvPath, _name, machine) => line(`building '${drvPath}'${machine ? ` on '${machine}'` : ''}...`),
    logLine: (_drvPath, text) => line(text),
    buildFinished() {},
    substitutionStarted: (path, from) => line(`copying path '${path}' from '${from}'...`),
    substitutionFinished() {},
    downloaded() {},
    message: (text) => line(text),
  };
}
