// How a user names something on the Hugging Face Hub, and what a run records about it. No engine imports: the
// config resolver and the extension host read this without loading anything else.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a Hub reference resolved to, recorded in a run's config.json (never a token, never a local path). */
export interface HubOrigin {
  /** As the user wrote it: "org/name@main", "hf://datasets/org/name/data/train-*.parquet". */
  ref: string;
  type: 'model' | 'dataset';
  /** "org/name" */
  repo: string;
  /** The branch, tag or commit asked for ("main" when none was given). */
  revision: string;
  /** The 40-hex commit it resolved to: the run can be redone from exactly these files. */
  commit: string;
  /** Datasets: the file in the repository that was read, or the glob when it matched several. */
  path?: string;
  /** Datasets whose glob matched several files: each of them, in the order they are read. */
  files?: string[];
}

/** The Hub references of a run, by config field. */
export interface HubSources {
  model?: HubOrigin;
  train?: HubOrigin;
  validation?: HubOrigin;
}

// Hub names: letters, digits, '-', '_', '.'; neither part starts with '-' or '.', none holds '--' or '..'.
const NAME = /^(?![.-])(?!.*(--|\.\.))[A-Za-z0-9._-]{1,96}(?<![.-])$/;

export interface ParsedRepo {
  id: string;
  revision: string;
}

/** "org/name" or "org/name@revision" → its parts; anything else → null. */
export function parseModelRef(ref: string): ParsedRepo | null {
  const at = ref.indexOf('@');
  const id = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? 'main' : decodeURIComponent(ref.slice(at + 1));
  const parts = id.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p)) || !revision || /\s/.test(revision)) return null;
  return { id, revision };
}

export const DATASET_PREFIX = 'hf://datasets/';

/** "hf://datasets/org/name[@revision]/path/with/*.parquet" → its parts; anything else → null. */
export function parseDatasetRef(ref: string): (ParsedRepo & { pattern: string }) | null {
  if (!ref.startsWith(DATASET_PREFIX)) return null;
  const [org, nameRev, ...rest] = ref.slice(DATASET_PREFIX.length).split('/');
  if (!org || !nameRev || !rest.length || rest.some((p) => p === '' || p === '..' || p === '.')) return null;
  const repo = parseModelRef(`${org}/${nameRev}`);
  return repo ? { ...repo, pattern: rest.join('/') } : null;
}

/**
 * The same split layout's file for another split: "hf://…/rte/train-00000-of-00001.parquet" → ".../rte/
 * validation-00000-of-00001.parquet", "…/data/train-*.parquet" → "…/data/validation-*.parquet" (the Hub's Parquet
 * files name each split so). Undefined when the last path part does not name the train split.
 */
export function splitSiblingRef(ref: string, split: string): string | undefined {
  const parsed = parseDatasetRef(ref);
  if (!parsed) return undefined;
  const cut = ref.lastIndexOf('/') + 1;
  const last = ref.slice(cut);
  const renamed = last.replace(/(^|[-_.])train(?=$|[-_.])/, `$1${split}`);
  return renamed === last ? undefined : ref.slice(0, cut) + renamed;
}

/** A model value that names a Hub repo: it looks like org/name[@rev] and is not an existing path (a folder wins). */
export function isHubModelRef(value: string, baseDir = process.cwd()): boolean {
  return !path.isAbsolute(value) && parseModelRef(value) !== null && !fs.existsSync(path.resolve(baseDir, value));
}

/** A data value that names a file in a Hub dataset. */
export function isHubDataRef(value: string): boolean {
  return value.startsWith('hf://');
}

/** The repo id of a Hugging Face cache snapshot folder (…/models--org--name/snapshots/<revision> → "org/name"), else null. */
export function hubRepoOfSnapshot(dir: string): string | null {
  const m = /models--([^/\\]+)[/\\]snapshots[/\\][^/\\]+[/\\]?$/.exec(dir);
  return m ? m[1].split('--').join('/') : null;
}
