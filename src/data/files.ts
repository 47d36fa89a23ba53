// A data setting names one file or a glob of files ("data/train-*.parquet"): a dataset split over shards, as the
// Hugging Face Hub stores them, is read as one dataset. The matches are taken in sorted path order (byte order of the
// path below the glob's fixed folder, so the order does not depend on the locale), and each record still names its
// own file. A Hub dataset glob (hf://datasets/…) is resolved into the cache as such a glob inside the snapshot.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DatasetError } from './errors';

/** Whether a path or repository path is a glob: holds * or ? (a file that exists under that very name is itself). */
export function hasGlob(p: string): boolean {
  return /[*?]/.test(p);
}

/** A glob over '/'-separated paths: * and ? within a folder name, ** across folders. */
export function globMatcher(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Sorts paths by their code units: the same order on every machine (localeCompare differs by locale). */
export function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A glob split into the folder it starts from (no glob characters) and the '/'-separated pattern below it. */
export function splitGlob(spec: string): { base: string; pattern: string } {
  const parts = path.resolve(spec).split(path.sep);
  const first = parts.findIndex(hasGlob);
  return { base: parts.slice(0, first).join(path.sep) || path.sep, pattern: parts.slice(first).join('/') };
}

/**
 * The files a data setting names: the file itself, or every file a glob matches, sorted. A glob that matches
 * nothing is a DatasetError naming the folder it looked in; a single path is returned as given (the reader says
 * when it is missing).
 */
export function dataFiles(spec: string): string[] {
  if (!hasGlob(spec) || fs.existsSync(spec)) return [spec];
  const { base, pattern } = splitGlob(spec);
  const match = globMatcher(pattern);
  const depth = pattern.includes('**') ? Infinity : pattern.split('/').length;
  const found = filesBelow(base, depth).filter((rel) => match.test(rel)).sort(byPath);
  if (!found.length) throw new DatasetError(spec, `no file matches this pattern (looked in ${base}; * and ? match within a folder name, ** across folders).`);
  return found.map((rel) => path.join(base, ...rel.split('/')));
}

/** Whether a data setting names something that is there: an existing file, or a glob with at least one match. */
export function dataPresent(spec: string): boolean {
  try {
    return dataFiles(spec).every((f) => fs.existsSync(f));
  } catch {
    return false;
  }
}

/** Files (links to files included) below `dir`, as '/'-separated relative paths, at most `depth` folders down. */
function filesBelow(dir: string, depth: number, prefix = ''): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(prefix ? path.join(dir, prefix) : dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    const full = path.join(dir, rel);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(full); // follows links: a Hub snapshot's files are links to blobs
    } catch {
      return []; // a link whose target is gone is not a file
    }
    if (stat.isDirectory()) return depth > 1 ? filesBelow(dir, depth - 1, rel) : [];
    return stat.isFile() ? [rel] : [];
  });
}
