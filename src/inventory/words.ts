/**
 * Splits a line into words the way a POSIX shell (and Python's shlex, which
 * Ansible uses for INI host lines and -e) does: blanks separate words, single
 * quotes are literal, double quotes allow \" and \\, a backslash outside
 * quotes escapes the next character. Unlike shlex, it remembers which part of
 * each word was quoted, so `port="22"` can stay a string, and the column
 * where each word and its value start.
 */
export interface Word {
  text: string;
  /** 1-based column of the word's first character in the line */
  col: number;
  /** index in `text` of the first `=` that was not quoted, or -1 */
  equals: number;
  /** 1-based column of the character after that `=` */
  valueCol: number;
  /** true when any character after that `=` was quoted */
  valueQuoted: boolean;
}

export type SplitResult = { words: Word[] } | { error: string; col: number };

export function splitWords(line: string, opts: { comments: boolean }): SplitResult {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
    if (i >= line.length) break;
    if (opts.comments && line[i] === '#') break;
    const start = i;
    let text = '';
    let equals = -1;
    let valueCol = 0;
    let valueQuoted = false;
    const quote = (ch: string): void => {
      text += ch;
      if (equals >= 0) valueQuoted = true;
    };
    while (i < line.length && line[i] !== ' ' && line[i] !== '\t') {
      const ch = line[i];
      if (ch === "'") {
        const close = line.indexOf("'", i + 1);
        if (close < 0) return { error: 'unterminated single quote', col: i + 1 };
        if (equals >= 0) valueQuoted = true;
        for (const c of line.slice(i + 1, close)) quote(c);
        i = close + 1;
      } else if (ch === '"') {
        let j = i + 1;
        if (equals >= 0) valueQuoted = true;
        for (; j < line.length && line[j] !== '"'; j++) {
          if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
          quote(line[j]);
        }
        if (j >= line.length) return { error: 'unterminated double quote', col: i + 1 };
        i = j + 1;
      } else if (ch === '\\' && i + 1 < line.length) {
        quote(line[i + 1]);
        i += 2;
      } else if (opts.comments && ch === '#') {
        // shlex: a comment starts even inside a word (`a=b#c` is `a=b`)
        words.push({ text, col: start + 1, equals, valueCol, valueQuoted });
        return { words };
      } else {
        if (ch === '=' && equals < 0) {
          equals = text.length;
          valueCol = i + 2;
        }
        text += ch;
        i++;
      }
    }
    words.push({ text, col: start + 1, equals, valueCol, valueQuoted });
  }
  return { words };
}
