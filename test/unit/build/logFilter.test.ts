import assert from 'node:assert/strict';
import { filterLogLine, stripColour } from '../../../src/build/logFilter.js';

const ESC = '\x1b';

describe('build log line filter', () => {
  describe('keeps', () => {
    it('a plain line as it is, tabs and all', () => {
      assert.equal(filterLogLine('checking for gcc... gcc\t(cached)'), 'checking for gcc... gcc\t(cached)');
    });
    it('UTF-8 text, including characters outside the BMP', () => {
      assert.equal(filterLogLine('naïve → ✓ 🎉'), 'naïve → ✓ 🎉');
    });
    it('colour: SGR sequences with any parameters, 256-colour and truecolor included', () => {
      const line = `${ESC}[1;31merror:${ESC}[0m ${ESC}[38;5;208morange${ESC}[m ${ESC}[38:2::255:0:0mred${ESC}[39m`;
      assert.equal(filterLogLine(line), line);
    });
  });

  describe('removes', () => {
    it("gcc's erase-to-end-of-line after each colour change, keeping the colours", () => {
      const gcc = `${ESC}[01m${ESC}[Khello.c:3:5:${ESC}[m${ESC}[K ${ESC}[01;31m${ESC}[Kerror: ${ESC}[m${ESC}[Kexpected ';'`;
      assert.equal(filterLogLine(gcc), `${ESC}[01mhello.c:3:5:${ESC}[m ${ESC}[01;31merror: ${ESC}[mexpected ';'`);
    });
    it("stdenv's nesting marks (ESC[p … ESC[q)", () => {
      assert.equal(filterLogLine(`${ESC}[1p${ESC}[2punpacking sources${ESC}[q`), 'unpacking sources');
    });
    it('cursor movement and erasing (up, column, erase line, private modes)', () => {
      assert.equal(filterLogLine(`${ESC}[2K${ESC}[1G${ESC}[1A${ESC}[?25l[ 50%] Linking${ESC}[?25h`), '[ 50%] Linking');
    });
    it('a terminal title (OSC ended by BEL) with its text', () => {
      assert.equal(filterLogLine(`${ESC}]0;make: building foo\x07done`), 'done');
    });
    it('an OSC ended by ESC \\ , e.g. a hyperlink, keeping the linked text', () => {
      assert.equal(filterLogLine(`see ${ESC}]8;;https://example.org/${ESC}\\the manual${ESC}]8;;${ESC}\\.`), 'see the manual.');
    });
    it('a DCS string (sixel graphics) whole', () => {
      assert.equal(filterLogLine(`a${ESC}Pq#0;2;0;0;0#0~~@@${ESC}\\b`), 'ab');
    });
    it("tput sgr0's character-set selection, keeping its colour reset", () => {
      assert.equal(filterLogLine(`${ESC}[1mbold${ESC}(B${ESC}[m plain`), `${ESC}[1mbold${ESC}[m plain`);
    });
    it('two-byte sequences: save/restore cursor, keypad modes, reset, index', () => {
      assert.equal(filterLogLine(`${ESC}7a${ESC}8b${ESC}=c${ESC}>d${ESC}ce${ESC}Mf`), 'abcdef');
    });
    it('stray control characters: bell, NUL, shift-out/in, DEL, C1', () => {
      assert.equal(filterLogLine('a\x07b\x00c\x0ed\x0fe\x7ff\u009bg'), 'abcdefg');
    });
    it('an escape sequence cut off by the end of the line', () => {
      assert.equal(filterLogLine(`text${ESC}[12`), 'text');
      assert.equal(filterLogLine(`text${ESC}`), 'text');
      assert.equal(filterLogLine(`a${ESC}]0;title never ended`), 'a');
    });
  });

  describe('shows what a terminal would after cursor returns', () => {
    it('a progress counter redrawn with \\r leaves its last state', () => {
      assert.equal(filterLogLine('  0%\r 50%\r100%'), '100%');
    });
    it("curl's progress meter leaves the final line", () => {
      assert.equal(filterLogLine('  0     0    0     0\r 42  100k   42 43008\r100  100k  100  100k'), '100  100k  100  100k');
    });
    it('a CRLF line ending leaves the line whole', () => {
      assert.equal(filterLogLine('built with MSVC-style endings\r'), 'built with MSVC-style endings');
    });
    it('a shorter text after \\r overwrites only the start, as on a terminal', () => {
      assert.equal(filterLogLine('downloading...\rdone'), 'doneloading...');
    });
    it('backspace moves back one character', () => {
      assert.equal(filterLogLine('spinner |\b/\b-\b\\'), 'spinner \\');
      assert.equal(filterLogLine('a\b\b\bb'), 'b');
    });
    it('colour of a redrawn progress line is kept', () => {
      assert.equal(filterLogLine(`${ESC}[32m 50%${ESC}[0m\r${ESC}[32m100%${ESC}[0m`), `${ESC}[0m${ESC}[32m100%${ESC}[0m`);
    });
    it('text written over a coloured start keeps that colour in force', () => {
      assert.equal(filterLogLine(`${ESC}[31mred\rX`), `${ESC}[31mXed`);
    });
    it('wide characters are overwritten one per character', () => {
      assert.equal(filterLogLine('🎉🎉\rx'), 'x🎉');
    });
  });

  describe('stripColour', () => {
    it('removes colour and nothing else', () => {
      assert.equal(stripColour(`${ESC}[1;31merror:${ESC}[0m tab\there`), 'error: tab\there');
    });
  });
});
