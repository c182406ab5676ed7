/**
 * The five styles tsnix-store's messages and status line use, as 16-colour escape sequences
 * (the same bytes chalk writes at its level 1). Not chalk itself: loading it cost ~14 ms of
 * every command that shows progress, coloured or not.
 */
export interface Styles {
  red(text: string): string;
  redBold(text: string): string;
  magentaBold(text: string): string;
  green(text: string): string;
  blue(text: string): string;
}

const wrap = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;
const bold = wrap(1, 22);

const COLOURED: Styles = {
  red: wrap(31, 39),
  redBold: (text) => wrap(31, 39)(bold(text)),
  magentaBold: (text) => wrap(35, 39)(bold(text)),
  green: wrap(32, 39),
  blue: wrap(34, 39),
};

const plain = (text: string): string => text;
const PLAIN: Styles = { red: plain, redBold: plain, magentaBold: plain, green: plain, blue: plain };

export function ansiStyles(colour: boolean): Styles {
  return colour ? COLOURED : PLAIN;
}
