// Reading dataset files into plain records. Each record remembers where it came from, so every later complaint
// about it (a missing field, an unknown label) can name the file and the line or row the user should open.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { CsvError, Options as CsvOptions } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { DatasetError, describeValue, type Location } from './errors';
import { dataFiles } from './files';
import { invalidUtf8Lines, type DataWarnings } from './warnings';

export type DataFormat = 'jsonl' | 'json' | 'csv' | 'tsv' | 'parquet';

export interface DataRecord {
  where: { file: string; line?: number; row?: number; label: string };
  fields: Record<string, unknown>;
}

export interface ReadOptions {
  /** Overrides the format the file extension implies. */
  format?: DataFormat;
  /** Told when the reader accepted something unusual (e.g. records under a "data" key), so the caller can log it. */
  onNote?: (message: string) => void;
  /** Collects what is read but worth a warning (bytes that are not UTF-8, with their lines). */
  warnings?: DataWarnings;
  /**
   * Parquet: read only these top-level columns — the ones a task reads — when the file has them all (MRQA's train
   * split is ~1 GB of Parquet, most of it token lists no template uses). A file lacking one is read whole, so the
   * error that follows names the columns it does have. Other formats are read whole.
   */
  columns?: string[];
}

const FORMAT_BY_EXTENSION: Record<string, DataFormat> = {
  '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.json': 'json', '.csv': 'csv', '.tsv': 'tsv', '.parquet': 'parquet',
};

/**
 * Reads every record of a dataset file, or of every file a glob names (data/train-*.parquet: sorted, read as one
 * dataset, each record keeping its own file). Throws DatasetError for anything the user has to fix in a file.
 */
export async function readRecords(file: string, opts: ReadOptions = {}): Promise<DataRecord[]> {
  const files = dataFiles(file);
  if (files.length === 1) return readFile(files[0], opts);
  const records: DataRecord[] = [];
  // A shard without rows is not an error on its own (a split's last shard can be empty); all of them empty is.
  for (const f of files) records.push(...(await readFile(f, opts).catch((e: unknown) => (isEmptyFile(e) ? [] : Promise.reject(e)))));
  if (records.length === 0) throw new DatasetError(file, `none of the ${files.length} files it matches contains a record.`);
  return records;
}

const EMPTY = 'the file contains no records.';
const isEmptyFile = (e: unknown) => e instanceof DatasetError && e.message.endsWith(`: ${EMPTY}`);

async function readFile(file: string, opts: ReadOptions): Promise<DataRecord[]> {
  const format = opts.format ?? formatOf(file);
  checkIsFile(file);
  const note = opts.onNote ?? (() => {});
  const bytes = () => {
    const buf = fs.readFileSync(file);
    for (const line of invalidUtf8Lines(buf)) opts.warnings?.add('invalid-utf8', file, `line ${line}`);
    return buf;
  };
  const records =
    format === 'parquet' ? await readParquet(file, opts.columns)
    : format === 'jsonl' ? readJsonLines(file, text(bytes()))
    : format === 'json' ? readJson(file, text(bytes()), note)
    : readDelimited(file, bytes(), format === 'tsv' ? '\t' : ',');
  if (records.length === 0) throw new DatasetError(file, EMPTY);
  return records;
}

export function formatOf(file: string): DataFormat {
  const ext = path.extname(file).toLowerCase();
  const format = FORMAT_BY_EXTENSION[ext];
  if (!format) {
    throw new DatasetError(file, `cannot tell the format from the extension "${ext}"; ` +
      'use .jsonl (or .ndjson), .json, .csv, .tsv or .parquet, or give the format explicitly.');
  }
  return format;
}

function checkIsFile(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new DatasetError(file, `the dataset file does not exist (looked for ${path.resolve(file)}).`);
  }
  if (stat.isDirectory()) throw new DatasetError(file, 'is a folder; expected a dataset file.');
}

function text(buf: Buffer): string {
  return buf.toString('utf8').replace(/^\uFEFF/, '');
}

function atLine(file: string, line: number): DataRecord['where'] {
  return { file, line, label: `line ${line}` };
}

function asFields(value: unknown, where: Location, hint = ''): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new DatasetError(where, `expected an object like {"input": …, "label": …}, found ${describeValue(value)}.${hint}`);
}

// ---- JSON Lines: one object per line; blank lines are skipped.

function readJsonLines(file: string, text: string): DataRecord[] {
  const records: DataRecord[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const where = atLine(file, i + 1);
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch (e) {
      throw new DatasetError(where, `not valid JSON (${(e as Error).message}). Each line must hold one JSON object.`);
    }
    const hint = Array.isArray(value) && i === 0 ? ' If the whole file is one JSON array, name it .json.' : '';
    records.push({ where, fields: asFields(value, where, hint) });
  }
  return records;
}

// ---- JSON: an array of objects, or an object whose one array property holds them ({"data": [...]}).

function readJson(file: string, text: string, note: (message: string) => void): DataRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // `datasets.Dataset.to_json` writes JSON Lines under a .json name by default; accept that.
    if (looksLikeJsonLines(text)) {
      note(`${file}: read as JSON Lines (one object per line), although the name ends in .json.`);
      return readJsonLines(file, text);
    }
    throw new DatasetError(file, `not valid JSON (${(e as Error).message}).`);
  }
  const items = recordArrayOf(file, value, note);
  return items.map((item, i) => {
    const where = { file, row: i + 1, label: `record ${i + 1}` };
    return { where, fields: asFields(item, where) };
  });
}

function looksLikeJsonLines(text: string): boolean {
  const first = text.split(/\r\n|\n|\r/).find((l) => l.trim() !== '');
  try {
    const value: unknown = JSON.parse(first ?? '');
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

function recordArrayOf(file: string, value: unknown, note: (message: string) => void): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'object' && value !== null) {
    const arrays = Object.entries(value).filter(([, v]) => Array.isArray(v));
    if (arrays.length === 1) {
      const [key, items] = arrays[0] as [string, unknown[]];
      note(`${file}: read the ${items.length} records of its "${key}" array.`);
      return items;
    }
  }
  throw new DatasetError(file, `expected a JSON array of objects (or an object with one array of them, like ` +
    `{"data": [...]}), found ${describeValue(value)}${arrayCountNote(value)}.`);
}

function arrayCountNote(value: unknown): string {
  if (typeof value !== 'object' || value === null) return '';
  const keys = Object.entries(value).filter(([, v]) => Array.isArray(v)).map(([k]) => `"${k}"`);
  return keys.length > 1 ? ` with several arrays (${keys.join(', ')}), so it is unclear which holds the records` : '';
}

// ---- CSV / TSV: a header row names the columns; every row must have as many columns as the header.

interface CsvRow { cells: string[]; start: number }

function readDelimited(file: string, buf: Buffer, delimiter: string): DataRecord[] {
  const lines = new LineCounter(buf);
  const rows = parseRows(file, buf, delimiter, lines);
  if (rows.length === 0) return [];
  const header = checkHeader(file, rows[0].cells);
  return rows.slice(1).map((row) => {
    const where = atLine(file, lines.lineOfRecordAt(row.start));
    const fields: Record<string, unknown> = {};
    header.forEach((name, i) => (fields[name] = row.cells[i]));
    return { where, fields };
  });
}

function parseRows(file: string, buf: Buffer, delimiter: string, lines: LineCounter): CsvRow[] {
  let lastEnd = 0; // csv-parse reports where each record ends; the next one starts there (after blank lines)
  let header: string[] = [];
  const options: CsvOptions = {
    delimiter,
    bom: true,
    skip_empty_lines: true,
    relax_column_count: false,
    // TSV files often carry literal quotes inside text (He said "hi"); CSV follows RFC 4180 strictly.
    relax_quotes: delimiter === '\t',
    max_record_size: 0, // long documents are legitimate; an unclosed quote is still reported
    on_record: (cells: string[], ctx) => {
      const row = { cells, start: lastEnd };
      if (lastEnd === 0) header = cells;
      lastEnd = ctx.bytes;
      return row as unknown as string[];
    },
  };
  try {
    return parseCsv(buf, options) as unknown as CsvRow[];
  } catch (e) {
    const where = atLine(file, lines.lineOfRecordAt(lastEnd));
    throw new DatasetError(where, csvProblem(e as CsvError, header, delimiter));
  }
}

function csvProblem(e: CsvError, header: string[], delimiter: string): string {
  const sep = delimiter === '\t' ? 'tab' : 'comma';
  switch (e.code) {
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH': {
      const found = Array.isArray(e.record) ? e.record.length : '?';
      return `expected ${header.length} columns as in the header (${header.join(', ')}), found ${found}. ` +
        `A value containing a ${sep}, a quote or a line break must be written in double quotes ("…", with "" for a quote).`;
    }
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted value starting in this record is never closed; write a quote inside a quoted value as "".';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return `a quoted value is followed by other text before the next ${sep}; write a quote inside a quoted value as "".`;
    case 'INVALID_OPENING_QUOTE':
      return 'a quote appears in the middle of an unquoted value; put the whole value in double quotes and write the quote as "".';
    default:
      return `not valid ${delimiter === '\t' ? 'TSV' : 'CSV'} (${e.message}).`;
  }
}

function checkHeader(file: string, names: string[]): string[] {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new DatasetError(atLine(file, 1), `the header names column "${name}" twice.`, name);
    seen.add(name);
  }
  return names;
}

/** Turns the byte offsets csv-parse reports into 1-based line numbers, scanning the buffer forward only once. */
class LineCounter {
  private pos = 0;
  private line = 1;
  constructor(private readonly buf: Buffer) {}

  /** The line of the first byte at or after `offset` that is not a line break (csv-parse skips blank lines). */
  lineOfRecordAt(offset: number): number {
    this.advanceTo(offset);
    let end = offset;
    while (end < this.buf.length && (this.buf[end] === 0x0a || this.buf[end] === 0x0d)) end++;
    return this.line + this.breaksIn(offset, end);
  }

  private advanceTo(offset: number): void {
    if (offset < this.pos) { this.pos = 0; this.line = 1; } // only after an error; correctness over speed
    this.line += this.breaksIn(this.pos, offset);
    this.pos = offset;
  }

  /** "\r\n", "\n" and a lone "\r" each end one line. */
  private breaksIn(from: number, to: number): number {
    let n = 0;
    for (let p = from; p < to; p++) {
      const b = this.buf[p];
      if (b === 0x0d || (b === 0x0a && (p === 0 || this.buf[p - 1] !== 0x0d))) n++;
    }
    return n;
  }
}

// ---- Parquet: rows as objects; 64-bit integers become numbers when exact, else decimal strings; 32-bit floats
// the shortest decimal that is the same float32.

async function readParquet(file: string, wanted?: string[]): Promise<DataRecord[]> {
  let rows: Record<string, unknown>[];
  let float32: Set<string>;
  try {
    const buffer = await asyncBufferFromFile(file);
    const metadata = await parquetMetadataAsync(buffer);
    const top = topLevelColumns(metadata);
    float32 = new Set(top.filter((c) => c.float32).map((c) => c.name));
    const present = new Set(top.map((c) => c.name));
    const columns = wanted?.length && wanted.every((c) => present.has(c)) ? wanted : undefined;
    rows = await parquetReadObjects({ file: buffer, metadata, ...(columns ? { columns } : {}) });
  } catch (e) {
    throw new DatasetError(file, `could not be read as Parquet (${(e as Error).message}).`);
  }
  return rows.map((row, i) => {
    const fields = plainValue(row) as Record<string, unknown>;
    for (const column of float32) if (column in fields) fields[column] = float32Value(fields[column]);
    return { where: { file, row: i + 1, label: `row ${i + 1}` }, fields };
  });
}

/**
 * The file's top-level columns, each with whether its every leaf is a FLOAT (float32): STS-B's similarity score is
 * one. Read as the double nearest it, 3.8 would become 3.799999952316284 — and a generation target is its text.
 */
function topLevelColumns(metadata: FileMetaData): { name: string; float32: boolean }[] {
  const schema = metadata.schema;
  const out: { name: string; float32: boolean }[] = [];
  let at = 1;
  // Depth-first, as Parquet lays the schema out: each element is followed by its num_children subtrees.
  const leaves = (): boolean => {
    const element = schema[at++];
    const children = element.num_children ?? 0;
    if (!children) return element.type === 'FLOAT';
    let all = true;
    for (let c = 0; c < children; c++) all = leaves() && all;
    return all;
  };
  for (let c = 0; c < (schema[0].num_children ?? 0); c++) {
    const name = schema[at].name;
    out.push({ name, float32: leaves() });
  }
  return out;
}

/** The shortest decimal that rounds to the same float32 (3.8, not 3.799999952316284), through lists and objects. */
export function float32Value(value: unknown): unknown {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.fround(value) !== value) return value;
    for (let digits = 1; digits <= 9; digits++) {
      const shorter = Number(value.toPrecision(digits));
      if (Math.fround(shorter) === value) return shorter;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map(float32Value);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, float32Value(v)]));
  return value;
}

function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value.toString();
  }
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(plainValue);
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainValue(v)]));
  }
  return value;
}
