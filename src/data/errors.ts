// Errors about a user's dataset. The message is written for the person who owns the file: it names the file (as
// the user gave it), where in the file, the field, and what was expected, so they can open the file and fix it.

/** Where something sits in a dataset file. `label` is the human form: "line 7", "record 3", "row 12". */
export interface Location {
  file: string;
  /** 1-based physical line (JSONL, CSV, TSV; for CSV the line where the record starts). */
  line?: number;
  /** 1-based position in the file's list of records (JSON arrays, Parquet). */
  row?: number;
  label?: string;
}

export class DatasetError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly row?: number;
  readonly field?: string;

  /** `where` is a Location, or just the file for problems with the file as a whole. */
  constructor(where: Location | string, problem: string, field?: string) {
    const loc: Location = typeof where === 'string' ? { file: where } : where;
    super(`${loc.file}${loc.label ? ` ${loc.label}` : ''}: ${problem}`);
    this.name = 'DatasetError';
    this.file = loc.file;
    this.line = loc.line;
    this.row = loc.row;
    this.field = field;
  }
}

/** "a string", "an array", "null" … for messages that say what was found instead of what was expected. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
