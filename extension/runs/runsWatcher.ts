// Every run folder under a set of `.ulpt/runs` roots, kept current by file-system events rather than polling: one
// watcher per root (runs appearing and going away) and one per run folder (its files changing). A changed run is
// re-read after a short quiet period, and its metrics.jsonl only from where the last read stopped. The roots need
// not exist yet: the nearest existing parent is watched until they appear. Where the platform cannot watch a
// folder (inotify limit, some network file systems) that folder alone falls back to a slow stat poll.
// No VS Code here: the monitor and the comparison panel build on it, and the unit tests drive it with real files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunPoints } from '../../src/protocol';
import { FILES, MetricsTail, readRunFiles, type RunFiles } from './runStore';

/** A run folder as last read. */
export interface WatchedRun {
  dir: string;
  id: string;
  files: RunFiles;
  points: RunPoints;
  lastStep: number;
}

export interface RunsChange {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface RunsWatcherOptions {
  /** Quiet period before a changed run is re-read (a step writes several files in a burst). */
  debounceMs?: number;
  /** Poll interval for a folder the platform cannot watch. */
  fallbackPollMs?: number;
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** Watches one folder; falls back to a stat poll of it when fs.watch is refused. */
class FolderWatch {
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stamp = '';

  constructor(readonly dir: string, private readonly onEvent: () => void, private readonly pollMs: number) {
    try {
      this.watcher = fs.watch(dir, { persistent: false }, () => this.onEvent());
      this.watcher.on('error', () => {
        // The folder went away (or the watch broke): tell the owner, who re-reads and decides.
        this.close();
        this.onEvent();
      });
    } catch {
      this.watcher = null;
      this.stamp = this.snapshot();
      this.timer = setInterval(() => {
        const s = this.snapshot();
        if (s !== this.stamp) {
          this.stamp = s;
          this.onEvent();
        }
      }, pollMs);
      this.timer.unref?.();
    }
  }

  get polling(): boolean {
    return this.timer !== null;
  }

  private snapshot(): string {
    try {
      return fs.readdirSync(this.dir).sort().map((n) => `${n}:${mtime(path.join(this.dir, n))}`).join('|');
    } catch {
      return '';
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

interface Tracked {
  watch: FolderWatch | null;
  tail: MetricsTail;
  run: WatchedRun | null;
}

interface Root {
  /** The folder watched now: the root itself once it exists, else its nearest existing parent. */
  watching: string;
  watch: FolderWatch | null;
}

export class RunsWatcher {
  private readonly roots = new Map<string, Root>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly dirty = new Set<string>();
  private readonly dirtyRoots = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;
  private readonly debounceMs: number;
  private readonly pollMs: number;
  /** Folder reads so far (tests check that nothing is read while nothing changes). */
  reads = 0;

  constructor(roots: string[], private readonly onChange: (c: RunsChange) => void, opts: RunsWatcherOptions = {}) {
    this.debounceMs = opts.debounceMs ?? 100;
    this.pollMs = opts.fallbackPollMs ?? 5_000;
    this.setRoots(roots, false);
  }

  /** The runs read so far, newest first. */
  runs(): WatchedRun[] {
    return [...this.tracked.values()].flatMap((t) => (t.run ? [t.run] : [])).sort((a, b) => b.files.modified - a.files.modified);
  }

  get(dir: string): WatchedRun | undefined {
    return this.tracked.get(path.resolve(dir))?.run ?? undefined;
  }

  /** Replaces the roots (workspace folders changed); reports what appeared and went away. */
  setRoots(roots: string[], report = true): void {
    const wanted = new Set(roots.map((r) => path.resolve(r)));
    const removed: string[] = [];
    for (const [root, r] of this.roots) {
      if (wanted.has(root)) continue;
      r.watch?.close();
      this.roots.delete(root);
      for (const dir of [...this.tracked.keys()]) if (path.dirname(dir) === root && this.untrack(dir)) removed.push(dir);
    }
    const added: string[] = [];
    for (const root of wanted) {
      if (this.roots.has(root)) continue;
      this.roots.set(root, { watching: '', watch: null });
      added.push(...this.scanRoot(root).added);
    }
    if (report && (added.length || removed.length)) this.onChange({ added, changed: [], removed });
  }

  /**
   * Re-reads a run (or, without an argument, every root) after the quiet period — for changes a file event does not
   * carry, such as a trainer of this window starting or being asked to stop. A folder not tracked yet makes its root
   * be listed again.
   */
  refresh(dir?: string): void {
    if (!dir) for (const root of this.roots.keys()) this.dirtyRoots.add(root);
    else {
      const key = path.resolve(dir);
      if (this.tracked.has(key)) this.dirty.add(key);
      else if (this.roots.has(path.dirname(key))) this.dirtyRoots.add(path.dirname(key));
    }
    this.schedule();
  }

  /** Whether any folder is watched by polling (fs.watch refused it). */
  get polling(): boolean {
    return [...this.roots.values()].some((r) => r.watch?.polling) || [...this.tracked.values()].some((t) => t.watch?.polling);
  }

  private schedule(): void {
    if (this.timer || this.disposed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.debounceMs);
    this.timer.unref?.();
  }

  private flush(): void {
    if (this.disposed) return;
    const change: RunsChange = { added: [], changed: [], removed: [] };
    for (const root of [...this.dirtyRoots]) {
      const c = this.scanRoot(root);
      change.added.push(...c.added);
      change.removed.push(...c.removed);
    }
    this.dirtyRoots.clear();
    for (const dir of [...this.dirty]) {
      if (!this.tracked.has(dir) || change.added.includes(dir)) continue;
      const before = this.tracked.get(dir)!.run;
      const after = this.readRun(dir);
      if (!before && after) change.added.push(dir);
      else if (before && !after) change.removed.push(dir);
      else if (after) change.changed.push(dir);
    }
    this.dirty.clear();
    if (change.added.length || change.changed.length || change.removed.length) this.onChange(change);
  }

  /** Lists a root's run folders: tracks the new ones, drops the vanished ones; watches the root or its parent. */
  private scanRoot(root: string): { added: string[]; removed: string[] } {
    const r = this.roots.get(root);
    if (!r) return { added: [], removed: [] };
    let names: string[] | null = null;
    try {
      names = fs.readdirSync(root);
    } catch {
      names = null;
    }
    const watching = names ? root : nearestExisting(root);
    if (watching !== r.watching) {
      r.watch?.close();
      r.watching = watching;
      r.watch = watching ? new FolderWatch(watching, () => this.rootEvent(root), this.pollMs) : null;
    }
    const present = new Set<string>();
    const added: string[] = [];
    for (const name of names ?? []) {
      const dir = path.join(root, name);
      try {
        if (!fs.statSync(dir).isDirectory()) continue;
      } catch {
        continue;
      }
      present.add(dir);
      if (!this.tracked.has(dir)) {
        this.tracked.set(dir, { watch: new FolderWatch(dir, () => this.runEvent(dir), this.pollMs), tail: new MetricsTail(path.join(dir, FILES.metrics)), run: null });
        if (this.readRun(dir)) added.push(dir);
      }
    }
    const removed: string[] = [];
    for (const dir of [...this.tracked.keys()]) {
      if (path.dirname(dir) === root && !present.has(dir) && this.untrack(dir)) removed.push(dir);
    }
    return { added, removed };
  }

  private rootEvent(root: string): void {
    this.dirtyRoots.add(root);
    this.schedule();
  }

  private runEvent(dir: string): void {
    this.dirty.add(dir);
    this.schedule();
  }

  /** Stops tracking; true when the folder had been listed as a run. */
  private untrack(dir: string): boolean {
    const t = this.tracked.get(dir);
    if (!t) return false;
    t.watch?.close();
    this.tracked.delete(dir);
    return t.run !== null;
  }

  /** Reads a tracked folder; null while it is not (yet) a run folder, or once it is gone. */
  private readRun(dir: string): WatchedRun | null {
    const t = this.tracked.get(dir)!;
    this.reads++;
    if (!fs.existsSync(dir)) {
      t.run = null;
      return null;
    }
    const files = readRunFiles(dir);
    const isRun = files.config !== null || files.failure !== null || fs.existsSync(path.join(dir, FILES.metrics));
    if (!isRun) {
      t.run = null;
      return null;
    }
    t.tail.read();
    t.run = { dir, id: path.basename(dir), files, points: t.tail.points(), lastStep: t.tail.lastStep };
    return t.run;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const r of this.roots.values()) r.watch?.close();
    for (const t of this.tracked.values()) t.watch?.close();
    this.roots.clear();
    this.tracked.clear();
  }
}

/** The closest ancestor of `dir` that exists (a root of the file system at worst). */
function nearestExisting(dir: string): string {
  let d = path.dirname(dir);
  while (!fs.existsSync(d)) {
    const up = path.dirname(d);
    if (up === d) return '';
    d = up;
  }
  return d;
}
