// A sweep's grid: `--grid KEY=V1,V2` over config fields, `--seeds`, and the cells they span (every combination of
// the grid's values — an "arm" — times every seed). Plain Node: no TensorFlow.js.
import { CONFIG_SCHEMA } from '../config';
import { ConfigError } from '../config';

/** A grid value as the config file holds it. */
export type GridValue = string | number | boolean;

export interface GridAxis {
  /** A config field as written in a config file: "rank", "lr", "task.template". */
  key: string;
  values: GridValue[];
}

/** One combination of grid values: the grid's keys in the order given. */
export type Arm = Record<string, GridValue>;

export interface Cell {
  /** Stable and unique within the sweep: the arm's values and the seed, safe in a folder name. */
  id: string;
  arm: Arm;
  seed: string;
}

/** Fields a grid must not set, and why (said in the error). */
const NOT_GRID_KEYS: Record<string, string> = {
  seed: 'seeds are given with --seeds',
  out: 'every run of a sweep writes its adapter into the sweep folder',
  backend: 'it changes where a run trains, not what it learns: give --backend once for the sweep',
  threads: 'it changes how a run trains, not what it learns',
  engine: 'give --engine once for the sweep',
  hub: 'it is filled in when Hub references are resolved',
  $schema: 'it is not a setting',
  preset: 'a preset fills several fields; sweep those fields instead',
};

/** The fields ULPT alone reads: with method prompt-tuning they do nothing, so such arms are one arm. */
export const ULPT_ONLY_KEYS = ['rank', 'alignment', 'scaleInit'];

interface FieldSchema {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, FieldSchema>;
}

function fieldSchema(key: string): FieldSchema | null {
  const props = (CONFIG_SCHEMA as unknown as FieldSchema).properties ?? {};
  const [top, sub, ...more] = key.split('.');
  if (more.length) return null;
  const field = props[top];
  if (!field) return null;
  if (sub === undefined) return field;
  return field.properties?.[sub] ?? null;
}

/** A field a grid value (one word) can set: not an object such as task.labels or filter. */
function gridable(field: FieldSchema): boolean {
  return !field.properties && ![field.type ?? 'string'].flat().includes('object');
}

function fieldNames(): string[] {
  const props = (CONFIG_SCHEMA as unknown as FieldSchema).properties ?? {};
  const top = Object.keys(props).filter((k) => !(k in NOT_GRID_KEYS) && gridable(props[k]));
  const task = Object.entries(props.task?.properties ?? {}).filter(([, f]) => gridable(f)).map(([k]) => `task.${k}`);
  return [...top, ...task];
}

/** One value as its field's type wants it ("0.03" → 0.03 for lr, "false" → false for alignment). */
function typedValue(key: string, text: string, schema: FieldSchema): GridValue {
  const types = schema.enum ? ['string'] : [schema.type ?? 'string'].flat();
  if (types.includes('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  if ((types.includes('number') || types.includes('integer')) && text.trim() !== '' && Number.isFinite(Number(text))) return Number(text);
  if (types.includes('string')) return text;
  const want = types.includes('boolean') ? 'true or false' : types.includes('integer') ? 'a whole number' : 'a number';
  throw new ConfigError(`--grid ${key}: "${text}" is not ${want}.`);
}

/** `KEY=V1,V2,…` → an axis, its key checked against the config schema and its values typed. */
export function parseGridAxis(spec: string): GridAxis {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--grid ${spec}: write it as KEY=V1,V2 (e.g. --grid rank=2,16,64).`);
  const key = spec.slice(0, eq).trim();
  const why = NOT_GRID_KEYS[key];
  if (why) throw new ConfigError(`--grid ${key}: ${key} cannot be swept (${why}).`);
  const schema = fieldSchema(key);
  if (!schema) throw new ConfigError(`--grid ${key}: "${key}" is not a config field. Fields a grid can set: ${fieldNames().join(', ')}.`);
  if (!gridable(schema)) throw new ConfigError(`--grid ${key}: ${key} holds an object, and a grid value is one word; sweep it with one config file per value. Fields a grid can set: ${fieldNames().join(', ')}.`);
  const texts = spec.slice(eq + 1).split(',').map((s) => s.trim());
  if (texts.some((t) => t === '')) throw new ConfigError(`--grid ${spec}: a value is empty (two commas in a row, or one at an end).`);
  const values = texts.map((t) => typedValue(key, t, schema));
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(JSON.stringify(v))) throw new ConfigError(`--grid ${key}: ${JSON.stringify(v)} is given twice.`);
    seen.add(JSON.stringify(v));
  }
  return { key, values };
}

/** Every axis, each key at most once. */
export function parseGrid(specs: string[]): GridAxis[] {
  const axes = specs.map(parseGridAxis);
  const keys = axes.map((a) => a.key);
  const twice = keys.find((k, i) => keys.indexOf(k) !== i);
  if (twice) throw new ConfigError(`--grid ${twice} is given twice; give all its values in one --grid ${twice}=V1,V2.`);
  return axes;
}

/** `--seeds 3` → 1, 2, 3; `--seeds 7,11` → 7, 11. Seeds are 64-bit unsigned integers, kept as decimal strings. */
export function parseSeeds(text: string): string[] {
  const items = text.split(',').map((s) => s.trim());
  // "--seeds 42," is the one seed 42 (without the comma, 42 is a count).
  if (items.length === 2 && items[1] === '' && /^\d+$/.test(items[0])) return [BigInt(items[0]).toString()];
  const bad = items.find((s) => !/^\d+$/.test(s));
  if (bad !== undefined) throw new ConfigError(`--seeds ${text}: give a count (--seeds 3) or seeds separated by commas (--seeds 1,2,3); "${bad}" is neither.`);
  if (items.length === 1) {
    const n = Number(items[0]);
    if (n < 1 || n > 100) throw new ConfigError(`--seeds ${text}: a count of seeds must be from 1 to 100 (for one seed numbered N, write --seeds N,).`);
    return Array.from({ length: n }, (_, i) => String(i + 1));
  }
  const seeds = items.map((s) => BigInt(s).toString());
  const twice = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (twice) throw new ConfigError(`--seeds ${text}: seed ${twice} is given twice.`);
  return seeds;
}

/**
 * The arms: every combination of the axes' values, first axis slowest. With method prompt-tuning, ULPT's own
 * fields (rank, alignment, scaleInit) do nothing, so they leave the arm, and arms that then coincide are one.
 */
export function arms(axes: GridAxis[], baseMethod: string): Arm[] {
  let combos: Arm[] = [{}];
  for (const axis of axes) combos = combos.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.key]: v })));
  const out: Arm[] = [];
  const seen = new Set<string>();
  for (const combo of combos) {
    const arm = (combo.method ?? baseMethod) === 'prompt-tuning' ? Object.fromEntries(Object.entries(combo).filter(([k]) => !ULPT_ONLY_KEYS.includes(k))) : combo;
    const key = armKey(arm);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(arm);
  }
  return out;
}

/** An arm's identity, independent of key order. */
export function armKey(arm: Arm): string {
  return JSON.stringify(Object.keys(arm).sort().map((k) => [k, arm[k]]));
}

/** "method=ulpt rank=2 lr=0.03" (the grid's order). */
export function armLabel(arm: Arm): string {
  const parts = Object.entries(arm).map(([k, v]) => `${k}=${String(v)}`);
  return parts.length ? parts.join(' ') : '(base config)';
}

/** A folder-safe name for an arm and seed: "rank-2_lr-0.03_s1". */
export function cellId(arm: Arm, seed: string): string {
  const parts = Object.entries(arm).map(([k, v]) => `${k.replace(/^task\./, '')}-${String(v)}`);
  const text = [...parts, `s${seed}`].join('_').replace(/[^A-Za-z0-9._-]+/g, '-');
  return text.length <= 60 ? text : `${text.slice(0, 48)}-${hashText(text)}`;
}

/** Every arm × every seed, arms first (all seeds of one arm follow each other). */
export function cellsOf(armList: Arm[], seeds: string[]): Cell[] {
  const cells = armList.flatMap((arm) => seeds.map((seed) => ({ id: cellId(arm, seed), arm, seed })));
  const ids = new Set<string>();
  for (const c of cells) {
    // Long arms are cut and hashed; two distinct arms that still collide get a counter.
    let id = c.id;
    for (let i = 2; ids.has(id); i++) id = `${c.id}-${i}`;
    c.id = id;
    ids.add(id);
  }
  return cells;
}

/** 8 hex characters of FNV-1a: enough to tell apart names that were cut to one length. */
export function hashText(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
