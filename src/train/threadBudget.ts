// A machine-wide thread budget: each training process on the wasm/cpu backends records how many worker threads it
// runs in a small lease file, and a run choosing its threads ("auto") counts the cores other live runs already use,
// so two runs started side by side do not each start a worker per core and oversubscribe the machine.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic';

interface Lease {
  pid: number;
  threads: number;
  runDir: string;
}

/** One folder per user (the temp folder may be shared); ULPT_THREAD_LEASES overrides it (tests). */
export function leaseDir(): string {
  const user = typeof process.getuid === 'function' ? String(process.getuid()) : os.userInfo().username;
  return process.env.ULPT_THREAD_LEASES ?? path.join(os.tmpdir(), `ulpt-threads-${user}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** The worker threads other live training processes hold; leases of processes that are gone are removed. */
export function threadsLeasedByOthers(dir = leaseDir()): { threads: number; runs: string[] } {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return { threads: 0, runs: [] };
  }
  let threads = 0;
  const runs: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let lease: Lease;
    try {
      lease = JSON.parse(fs.readFileSync(file, 'utf8')) as Lease;
    } catch {
      continue; // being written, or damaged: not counted
    }
    if (lease.pid === process.pid) continue;
    if (!Number.isInteger(lease.pid) || !alive(lease.pid)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    threads += Number.isInteger(lease.threads) && lease.threads > 0 ? lease.threads : 0;
    runs.push(lease.runDir);
  }
  return { threads, runs };
}

/** Records that this process trains `runDir` on `threads` threads until the returned function is called. */
export function takeThreadLease(threads: number, runDir: string, dir = leaseDir()): () => void {
  const file = path.join(dir, `${process.pid}.json`);
  try {
    writeFileAtomic(file, JSON.stringify({ pid: process.pid, threads, runDir } satisfies Lease));
  } catch {
    return () => {}; // a budget we cannot record only means the next run may count fewer busy cores
  }
  const release = () => fs.rmSync(file, { force: true });
  process.once('exit', release);
  return () => {
    process.off('exit', release);
    release();
  };
}
