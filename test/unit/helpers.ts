// Shared by the unit tests: fixture paths, a started backend, temp folders.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, type BackendName, type BackendReport } from '../../src/backend';

/** The repo root, found from the bundled test file's location (out/test/unit) or the source (test/unit). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const TINY = path.join(FIXTURES, 'tiny-gpt2');

let started: Promise<BackendReport> | null = null;
/** Tests run on the JS CPU backend unless ULPT_TEST_BACKEND says otherwise (numbers are checked against it). */
export function backend(): Promise<BackendReport> {
  started ??= initBackend((process.env.ULPT_TEST_BACKEND as BackendName) ?? 'cpu');
  return started;
}

export function tempDir(prefix = 'ulpt-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
