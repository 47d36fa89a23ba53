// Things in a dataset that training accepts but a user should know about, because they silently change what is
// learned: text that was not valid UTF-8, empty generation targets, inputs cut to fit maxLength, labels that are
// never trained. Collected per file and kind with where they occur; `strict` turns them into an error.
import * as path from 'node:path';

export type DataWarningKind = 'invalid-utf8' | 'empty-target' | 'input-cut' | 'label-untrained' | 'target-boundary' | 'task-suspect';

/** One kind of problem in one file: how often and where (the first few places are kept). */
export interface DataWarning {
  kind: DataWarningKind;
  file: string;
  count: number;
  /** "line 4", "record 9" … the first few occurrences. */
  where: string[];
  /** The whole warning for people, naming the file, the places and what it means. */
  message: string;
}

const SHOWN = 5;

const EXPLAIN: Record<DataWarningKind, (count: number, detail: string) => string> = {
  'invalid-utf8': (n, d) => `${n === 1 ? 'a line is' : `${n} lines are`} not valid UTF-8 (${d}); the bad bytes were read as U+FFFD "�", in inputs and targets alike. Save the file as UTF-8.`,
  'empty-target': (n, d) => `${n === 1 ? 'a record has' : `${n} records have`} an empty target (${d}); the model learns to answer nothing there.`,
  'input-cut': (n, d) => `${n === 1 ? 'an input was' : `${n} inputs were`} longer than maxLength allows and cut from the left (${d}); the model never sees their beginning.`,
  'label-untrained': (_n, d) => d,
  'task-suspect': (_n, d) => d,
  'target-boundary': (n, d) => `${n === 1 ? 'a target begins' : `${n} targets begin`} with text that the tokenizer joins to the end of the prompt (${d}); it is trained as the tokens generation must write after the prompt, which is rarer text for the model. Set task.separator (e.g. " ") to keep prompt and answer apart.`,
};

export class DataWarnings {
  private readonly byKey = new Map<string, { kind: DataWarningKind; file: string; count: number; where: string[]; custom?: string }>();

  /** One occurrence: `where` is the record's place ("line 4"), `note` an optional detail ("1 203 tokens"). */
  add(kind: DataWarningKind, file: string, where: string, note?: string): void {
    const key = `${kind}\0${file}`;
    const entry = this.byKey.get(key) ?? { kind, file, count: 0, where: [] };
    entry.count += 1;
    if (entry.where.length < SHOWN) entry.where.push(note ? `${where}: ${note}` : where);
    this.byKey.set(key, entry);
  }

  /** A warning about the task rather than a place in a file (labels). */
  addMessage(kind: DataWarningKind, file: string, message: string): void {
    this.byKey.set(`${kind}\0${file}\0${message}`, { kind, file, count: 1, where: [], custom: message });
  }

  list(): DataWarning[] {
    return [...this.byKey.values()].map((e) => {
      const places = e.where.join('; ') + (e.count > e.where.length ? `; … ${e.count - e.where.length} more` : '');
      const message = `${path.basename(e.file)}: ${e.custom ?? EXPLAIN[e.kind](e.count, places)}`;
      return { kind: e.kind, file: e.file, count: e.count, where: [...e.where], message };
    });
  }
}

/** Lines (1-based) of a buffer that are not valid UTF-8; empty when the whole buffer is valid (the common case, one pass). */
export function invalidUtf8Lines(buf: Uint8Array): number[] {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return [];
  } catch {
    /* find the lines below */
  }
  const bad: number[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = 1;
  for (let i = 0; i <= buf.length; i++) {
    if (i === buf.length || buf[i] === 0x0a) {
      try {
        decoder.decode(buf.subarray(start, i));
      } catch {
        bad.push(line);
      }
      start = i + 1;
      line++;
    }
  }
  return bad;
}
