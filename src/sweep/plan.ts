// A sweep on disk: its folder (`.ulpt/sweeps/<name>/`) holds sweep.json — the grid, the seeds, the base config
// and the run folder of every cell — and, once runs finish, results.md and results.csv. The cells' run folders
// are ordinary ones under the workspace's `.ulpt/runs/`, so the monitor, the comparison and the inspector read
// them as any run. Rerunning the same command finds the same folder (its name holds a digest of what it runs)
// and goes on where it stopped. Plain Node: no TensorFlow.js (the extension reads sweep.json through here).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, resolveConfig, type TrainConfig } from '../config';
import { writeFileAtomic } from '../io/atomic';
import type { RunSummary } from '../protocol';
import { diagnoseRun, notRunFolder, RUN_FILES, RUNS_DIR, safeName } from '../train/runFolder';
import { arms, armLabel, cellsOf, type Arm, type Cell, type GridAxis } from './grid';

export const SWEEPS_DIR = path.join('.ulpt', 'sweeps');
export const SWEEP_FILE = 'sweep.json';
export const RESULTS_MD = 'results.md';
export const RESULTS_CSV = 'results.csv';

/** --pick KEY: for each arm, the value of KEY with the best mean over seeds on a dev split of the training file. */
export interface PickSpec {
  key: string;
  /** The fraction of the training file held out as the dev split that chooses (and picks each run's best step). */
  devSplit: number;
  /** The config's validation file: never trained or chosen on, only scored for the chosen runs. */
  test: string;
}

/** One cell as sweep.json records it; paths relative to the sweep folder. */
export interface SweepCell extends Cell {
  runDir: string;
  out: string;
}

/** sweep.json. */
export interface SweepFile {
  version: 1;
  name: string;
  created: string;
  /** The config file the sweep started from (absolute); its folder is the workspace. */
  configFile: string;
  /** The base config, resolved (absolute paths), with the sweep's --steps/--engine/--backend applied. */
  base: TrainConfig;
  grid: GridAxis[];
  seeds: string[];
  pick: PickSpec | null;
  cells: SweepCell[];
}

export interface SweepInput {
  configFile: string;
  grid: GridAxis[];
  seeds: string[];
  /** Config fields the command line sets for every cell (--steps, --engine, --backend). */
  overrides: Record<string, unknown>;
  pick?: { key: string; devSplit: number } | null;
  /** --out: the sweep folder; default `.ulpt/sweeps/<config name>-<digest>` beside the config file. */
  out?: string;
}

/** A sweep laid out: sweep.json's content, where it lives, and each cell's full config. */
export interface SweepPlan {
  dir: string;
  file: SweepFile;
  configs: Map<string, TrainConfig>;
}

function readJson(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new ConfigError(`${file} cannot be read as JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${file} must hold one JSON object.`);
  return raw as Record<string, unknown>;
}

/** `raw` with a dotted field set ("task.template"), copying what it changes. */
function withField(raw: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const [top, sub] = key.split('.');
  if (sub === undefined) return { ...raw, [top]: value };
  return { ...raw, [top]: { ...((raw[top] as Record<string, unknown>) ?? {}), [sub]: value } };
}

/** The raw config of one arm: base file, command-line overrides, the arm's values, and (with --pick) the dev split. */
function armRaw(base: Record<string, unknown>, input: SweepInput, arm: Arm): Record<string, unknown> {
  let raw: Record<string, unknown> = { ...base, ...input.overrides };
  for (const [k, v] of Object.entries(arm)) raw = withField(raw, k, v);
  if (input.pick) {
    delete raw.validation;
    raw.validationSplit = input.pick.devSplit;
  }
  return raw;
}

/** What makes two sweeps the same sweep: the settings every run gets, the grid, the seeds and the pick. */
function identity(base: TrainConfig, grid: GridAxis[], seeds: string[], pick: PickSpec | null): string {
  const settings = Object.fromEntries(Object.entries(base).filter(([k]) => !['backend', 'threads', 'out', 'hub'].includes(k)));
  return createHash('sha256').update(JSON.stringify({ settings, grid, seeds, pick })).digest('hex').slice(0, 8);
}

/** --pick checked against the grid and the config: a grid key, a validation file to hold out, a dev split in range. */
function pickSpec(input: SweepInput, base: TrainConfig, source: string): PickSpec | null {
  const pick = input.pick ?? null;
  if (!pick) {
    if (!base.validation && !(base.validationSplit > 0)) throw new ConfigError(`A sweep reports the validation metric, but ${source} has no validation data: set validation (a file) or validationSplit.`);
    return null;
  }
  if (!input.grid.some((a) => a.key === pick.key)) {
    throw new ConfigError(`--pick ${pick.key}: ${pick.key} is not a --grid key; --pick chooses one of a grid key's values per arm (e.g. --grid lr=0.01,0.03,0.1 --pick lr).`);
  }
  if (!base.validation) {
    throw new ConfigError(`--pick needs a held-out file: ${source} has no validation file. The runs choose on a dev split of the training file and the chosen runs are scored on the validation file.`);
  }
  if (!(pick.devSplit > 0 && pick.devSplit <= 0.9)) throw new ConfigError(`--dev-split must be above 0 and at most 0.9 (got ${pick.devSplit}).`);
  return { key: pick.key, devSplit: pick.devSplit, test: base.validation };
}

/**
 * The sweep of `input`: its folder, its cells and their configs. Every cell's config is validated here (before
 * anything runs), each error naming the arm. Reads an existing sweep.json in the folder and refuses one that
 * records another sweep (rerun its own command, or choose another --out).
 */
export function planSweep(input: SweepInput): SweepPlan {
  const configFile = path.resolve(input.configFile);
  const baseRaw = readJson(configFile);
  const workspace = path.dirname(configFile);
  const source = input.configFile;
  const base = resolveConfig({ ...baseRaw, ...input.overrides } as never, workspace, source);
  const pick = pickSpec(input, base, source);
  const digest = identity(base, input.grid, input.seeds, pick);
  const name = input.out ? path.basename(path.resolve(input.out)) : `${safeName(path.basename(configFile).replace(/(\.ulpt)?\.json$/, ''))}-${digest}`;
  const dir = input.out ? path.resolve(input.out) : path.join(workspace, SWEEPS_DIR, name);
  const runsDir = path.join(workspace, RUNS_DIR);
  const rel = (p: string) => path.relative(dir, p);

  const configs = new Map<string, TrainConfig>();
  const cells: SweepCell[] = [];
  for (const cell of cellsOf(arms(input.grid, base.method), input.seeds)) {
    // The digest keeps two sweeps of one name (--out folders of the same name) apart.
    const runDir = path.join(runsDir, `sweep-${safeName(name).slice(0, 40)}${input.out ? `-${digest}` : ''}_${cell.id}`);
    const out = path.join(dir, 'adapters', `${cell.id}.ulpt`);
    const raw = { ...armRaw(baseRaw, input, cell.arm), seed: cell.seed, out };
    const config = resolveConfig(raw as never, workspace, `${source} with ${armLabel(cell.arm)}`);
    if (config.validation && config.validationSplit > 0) throw new ConfigError(`${source} with ${armLabel(cell.arm)}: validation and validationSplit both choose the validation data; give one of them.`);
    configs.set(cell.id, config);
    cells.push({ ...cell, runDir: rel(runDir), out: rel(out) });
  }
  const file: SweepFile = { version: 1, name, created: new Date().toISOString(), configFile, base, grid: input.grid, seeds: input.seeds, pick, cells };
  const existing = readSweepFile(dir);
  if (existing) {
    const differs = sweepDifference(existing, file);
    if (differs) throw new ConfigError(`${dir} holds another sweep (${differs}). Rerun that sweep's own command to resume it, or give another --out.`);
    file.created = existing.created;
  } else if (fs.existsSync(dir) && fs.readdirSync(dir).length) {
    throw new ConfigError(`${dir} is not empty and holds no ${SWEEP_FILE}: a sweep folder must be new or a sweep's own. Give another --out.`);
  }
  return { dir, file, configs };
}

function sweepDifference(a: SweepFile, b: SweepFile): string | null {
  if (JSON.stringify(a.grid) !== JSON.stringify(b.grid)) return `its grid is ${a.grid.map((g) => `${g.key}=${g.values.join(',')}`).join(' ')}`;
  if (JSON.stringify(a.seeds) !== JSON.stringify(b.seeds)) return `its seeds are ${a.seeds.join(',')}`;
  if (JSON.stringify(a.pick) !== JSON.stringify(b.pick)) return a.pick ? `it picks ${a.pick.key} on a ${a.pick.devSplit} dev split` : 'it picks nothing';
  const keys = [...new Set([...Object.keys(a.base), ...Object.keys(b.base)])].filter((k) => !['backend', 'threads', 'out', 'hub'].includes(k));
  const changed = keys.filter((k) => JSON.stringify((a.base as never)[k]) !== JSON.stringify((b.base as never)[k]));
  if (changed.length) return `its base config differs in ${changed.join(', ')}`;
  const cellsA = a.cells.map((c) => `${c.id}:${c.runDir}`).join();
  return cellsA === b.cells.map((c) => `${c.id}:${c.runDir}`).join() ? null : 'its runs are other folders';
}

/** sweep.json of a folder, or null when there is none. Throws when it is there but unreadable. */
export function readSweepFile(dir: string): SweepFile | null {
  const file = path.join(dir, SWEEP_FILE);
  if (!fs.existsSync(file)) return null;
  const raw = readJson(file);
  if (raw.version !== 1 || !Array.isArray(raw.cells) || !Array.isArray(raw.grid)) throw new ConfigError(`${file} is not a sweep file of this version (version 1, with grid and cells).`);
  return raw as unknown as SweepFile;
}

export function writeSweepFile(dir: string, file: SweepFile): void {
  writeFileAtomic(path.join(dir, SWEEP_FILE), JSON.stringify(file, null, 2) + '\n');
}

/** A cell's run folder, absolute. */
export function cellRunDir(dir: string, cell: SweepCell): string {
  return path.resolve(dir, cell.runDir);
}

// ---- Where each cell stands

export type CellState =
  | { kind: 'done'; summary: RunSummary }
  | { kind: 'resume'; config: TrainConfig; step: number }
  | { kind: 'restart'; why: string }
  | { kind: 'new' }
  | { kind: 'busy'; detail: string };

export function readSummary(runDir: string): RunSummary | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDir, RUN_FILES.summary), 'utf8')) as RunSummary;
  } catch {
    return null;
  }
}

/** Fields a stored config.json may differ in without being another run (where it ran, where it wrote). */
const FREE = new Set(['backend', 'threads', 'out', 'engine', 'hub']);

/** The first setting in which a run's stored config differs from the cell's, in words, or null. */
export function configMismatch(stored: TrainConfig, wanted: TrainConfig): string | null {
  for (const [k, v] of Object.entries(wanted)) {
    if (FREE.has(k) || v === undefined) continue;
    const s = (stored as unknown as Record<string, unknown>)[k];
    if (JSON.stringify(s) !== JSON.stringify(v)) return `${k} is ${JSON.stringify(s)} there, ${JSON.stringify(v)} in the sweep`;
  }
  return null;
}

/**
 * What a cell's run folder holds: a finished run (summary.json, and a config.json matching the cell), one to
 * resume from its checkpoint, one to start again (interrupted before its first checkpoint), none, or one another
 * process trains now. A finished run of other settings is an error (the folder was reused or edited).
 */
export function cellState(runDir: string, wanted: TrainConfig): CellState {
  if (!fs.existsSync(runDir) || fs.readdirSync(runDir).length === 0) return { kind: 'new' };
  // Only a run folder is ever started again (removed); anything else in the way is the user's.
  const notRun = notRunFolder(runDir);
  if (notRun) throw new ConfigError(`The sweep's run folder ${runDir} is taken: ${notRun} Move it away, or give the sweep another --out.`);
  const d = diagnoseRun(runDir);
  if (d.owner.state === 'alive') return { kind: 'busy', detail: d.owner.detail };
  if (!d.config) return { kind: 'restart', why: 'its config.json is missing or damaged' };
  const mismatch = configMismatch(d.config, wanted);
  if (mismatch) throw new ConfigError(`${runDir} holds a run of other settings than the sweep's (${mismatch}). Move it away, or give the sweep another --out.`);
  const summary = readSummary(runDir);
  if (summary && summary.reason !== 'stopped' && (d.checkpointStep === null || summary.steps === d.checkpointStep)) return { kind: 'done', summary };
  if (d.resumable && d.checkpointStep !== null) return { kind: 'resume', config: d.config, step: d.checkpointStep };
  return { kind: 'restart', why: 'it was interrupted before its first checkpoint' };
}
