/**
 * What a builder prints is meant for a terminal; a log line is shown later, elsewhere, beside
 * other builds' lines. Keep colour (SGR, `ESC [ … m`) and what a terminal would leave on the
 * line; drop everything that moves the cursor, erases, sets titles or switches modes — as
 * Nix's filterANSIEscapes does, but also eating OSC/DCS strings whole (Nix 2.8 leaves a
 * title's text behind) and applying `\r` and backspace the way a terminal does.
 */

const ESC = 0x1b;
const BEL = 0x07;
const CR = 0x0d;
const BACKSPACE = 0x08;
const TAB = 0x09;

function isControl(c: number): boolean {
  return (c < 0x20 && c !== TAB) || (c >= 0x7f && c <= 0x9f);
}

/** Any C0 control but tab, DEL, or a C1 control: a line without one needs no work. */
const NEEDS_FILTERING = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

type Sink = {
  colour(sequence: string): void;
  /** Printable characters (tab included). */
  text(run: string): void;
  carriageReturn(): void;
  backspace(): void;
};

/** The end of a string sequence (OSC, DCS, SOS, PM, APC) started before `from`: after BEL or `ESC \`, or the line's end. */
function endOfControlString(line: string, from: number): number {
  for (let i = from; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === BEL) return i + 1;
    if (c === ESC && line.charCodeAt(i + 1) === 0x5c) return i + 2;
  }
  return line.length;
}

/** Index after the escape sequence starting at `start` (an ESC); reports it to `sink` when it is colour. */
function skipEscape(line: string, start: number, sink: Sink): number {
  let i = start + 1;
  const kind = line.charCodeAt(i);
  if (kind === 0x5b) {
    // CSI: parameter bytes, intermediate bytes, one final byte.
    i++;
    while (i < line.length && line.charCodeAt(i) >= 0x30 && line.charCodeAt(i) <= 0x3f) i++;
    while (i < line.length && line.charCodeAt(i) >= 0x20 && line.charCodeAt(i) <= 0x2f) i++;
    const final = line.charCodeAt(i);
    if (final >= 0x40 && final <= 0x7e) {
      if (final === 0x6d) sink.colour(line.slice(start, i + 1));
      return i + 1;
    }
    return i; // malformed: drop what was read, keep the odd byte for the caller to judge
  }
  // OSC `]`, DCS `P`, SOS `X`, PM `^`, APC `_` carry text up to a terminator: drop it all.
  if (kind === 0x5d || kind === 0x50 || kind === 0x58 || kind === 0x5e || kind === 0x5f) return endOfControlString(line, i + 1);
  // nF sequences (`ESC ( B` selects a character set, as `tput sgr0` prints): intermediates, then a final byte.
  while (i < line.length && line.charCodeAt(i) >= 0x20 && line.charCodeAt(i) <= 0x2f) i++;
  // Fp/Fe/Fs (`ESC 7`, `ESC M`, `ESC c`): one final byte.
  if (i < line.length && line.charCodeAt(i) >= 0x30 && line.charCodeAt(i) <= 0x7e) i++;
  return i;
}

/** Reports the line to `sink` as runs of ordinary text, colour sequences and cursor returns. */
function scan(line: string, sink: Sink): void {
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    if (c === ESC) {
      i = skipEscape(line, i, sink);
    } else if (c === CR) {
      sink.carriageReturn();
      i++;
    } else if (c === BACKSPACE) {
      sink.backspace();
      i++;
    } else if (isControl(c)) {
      i++;
    } else {
      let end = i + 1;
      while (end < line.length && !isControl(line.charCodeAt(end)) && line.charCodeAt(end) !== ESC) end++;
      sink.text(line.slice(i, end));
      i = end;
    }
  }
}

/** A line without cursor movement: the kept pieces in order. */
function filterStraight(line: string): string {
  let out = '';
  scan(line, {
    colour: (sequence) => (out += sequence),
    text: (run) => (out += run),
    carriageReturn: () => {},
    backspace: () => {},
  });
  return out;
}

/** `before` then `after`, without what a full reset in them makes moot. */
function mergeColour(before: string, after: string): string {
  const all = before + after;
  const reset = Math.max(all.lastIndexOf('\x1b[0m'), all.lastIndexOf('\x1b[m'));
  return reset > 0 ? all.slice(reset) : all;
}

interface Cell {
  /** Colour sequences in force from this cell on. */
  colour: string;
  text: string;
}

/**
 * A line that returns the cursor: characters overwrite cells as on a terminal, so
 * `50%\r100%` leaves `100%` and a CRLF line ending leaves the line whole.
 */
function filterOverwriting(line: string): string {
  const cells: Cell[] = [];
  let cursor = 0;
  let pendingColour = '';
  scan(line, {
    colour: (sequence) => (pendingColour += sequence),
    text: (run) => {
      for (const text of run) {
        const old = cells[cursor];
        // The colour an overwritten cell started stays in force for the cells after it.
        cells[cursor] = { colour: mergeColour(old?.colour ?? '', pendingColour), text };
        pendingColour = '';
        cursor++;
      }
    },
    carriageReturn: () => (cursor = 0),
    backspace: () => (cursor = Math.max(0, cursor - 1)),
  });
  let out = '';
  for (const cell of cells) out += cell.colour + cell.text;
  return out + pendingColour;
}

/**
 * One line of builder output (without its newline) as it should be logged and shown:
 * colour kept, other escape sequences and control characters (but tab) removed, `\r` and
 * backspace applied as a terminal would.
 */
export function filterLogLine(line: string): string {
  if (!NEEDS_FILTERING.test(line)) return line;
  return line.includes('\r') || line.includes('\b') ? filterOverwriting(line) : filterStraight(line);
}

/** Removes colour too: for output that is not a terminal, or when the user asked for no colour. */
export function stripColour(line: string): string {
  return line.includes('\x1b') ? line.replace(/\x1b\[[0-?]*[ -/]*m/g, '') : line;
}
