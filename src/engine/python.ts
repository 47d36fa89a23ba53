// Finding the Python that runs the PyTorch engine, and checking it can: torch and transformers importable and recent
// enough. Order: --python, then $ULPT_PYTHON, then a .venv/ beside the package (what scripts/setup.sh makes), then
// python3 on PATH. A missing or too-old library is an error that names the pip command for that interpreter.
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The oldest releases the engine is written for (issue 17: torch ≥ 2.1; transformers with inputs_embeds, SDPA and `dtype=`). */
export const MIN_VERSIONS = { torch: '2.1', transformers: '4.56', safetensors: '0.4', tokenizers: '0.19', jsonschema: '4.0' } as const;
type Library = keyof typeof MIN_VERSIONS;

/** The Python side is missing or cannot run: a setting or an install the user can fix. */
export class PythonEngineError extends Error {
  override name = 'PythonEngineError';
}

export interface PythonChoice {
  path: string;
  /** How it was found, for messages ("--python", "ULPT_PYTHON", ".venv", "PATH"). */
  source: string;
}

export interface PythonReport {
  python: string;
  versions: Record<Library, string>;
  cuda: number;
  mps: boolean;
}

/** The folder holding the `ulpt_torch` package: $ULPT_TORCH_PATH, else the nearest python/ above this file. */
export function enginePackageDir(from = __dirname): string {
  const override = process.env.ULPT_TORCH_PATH;
  if (override) {
    if (!fs.existsSync(path.join(override, 'ulpt_torch', '__init__.py'))) throw new PythonEngineError(`ULPT_TORCH_PATH=${override} does not hold the ulpt_torch package (looked for ${path.join(override, 'ulpt_torch', '__init__.py')}).`);
    return override;
  }
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'python');
    if (fs.existsSync(path.join(candidate, 'ulpt_torch', '__init__.py'))) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new PythonEngineError(`The PyTorch engine's package (python/ulpt_torch) was not found above ${from}; set ULPT_TORCH_PATH to the folder that holds ulpt_torch.`);
}

/** Which Python to run: the first of --python, $ULPT_PYTHON, <root>/.venv, python3 on PATH. */
export function findPython(flag: string | undefined, packageDir: string): PythonChoice {
  if (flag) return { path: flag, source: '--python' };
  if (process.env.ULPT_PYTHON) return { path: process.env.ULPT_PYTHON, source: 'ULPT_PYTHON' };
  const venv = path.join(path.dirname(packageDir), '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  if (fs.existsSync(venv)) return { path: venv, source: '.venv' };
  return { path: process.platform === 'win32' ? 'python' : 'python3', source: 'PATH' };
}

const PROBE_HEAD = `
import json, importlib
out = {}
for name in ${JSON.stringify(Object.keys(MIN_VERSIONS))}:
    try:
        out[name] = importlib.import_module(name).__version__
    except Exception as e:
        out[name] = None
cuda, mps = 0, False
try:
    import torch
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
except Exception:
    pass
result = {"versions": out, "cuda": cuda, "mps": mps}
`;
const PROBE = `${PROBE_HEAD}print(json.dumps(result))\n`;

/** a ≥ b for dotted release numbers ("2.13.0+cpu" ≥ "2.1"). */
export function versionAtLeast(a: string, b: string): boolean {
  const parts = (v: string) => v.split(/[+-]/)[0].split('.').map((x) => parseInt(x, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  }
  return true;
}

/** Runs the interpreter once to read the libraries' versions; refuses a missing interpreter or library, naming the fix. */
export function checkPython(choice: PythonChoice): PythonReport {
  return readProbe(choice, spawnSync(choice.path, ['-c', PROBE], { encoding: 'utf8', timeout: 120_000 }));
}

/**
 * checkPython, and in the same run of the interpreter `extra` (Python that adds keys to the dict `result`, reading
 * `stdin` as given): one start of Python for a question about many things. Returns the report and `result`'s other keys.
 */
export function checkPythonWith(choice: PythonChoice, extra: string, stdin: string): { report: PythonReport; extra: Record<string, unknown> } {
  const res = spawnSync(choice.path, ['-c', `${PROBE_HEAD}${extra}\nprint(json.dumps(result))\n`], { encoding: 'utf8', timeout: 120_000, input: stdin });
  const report = readProbe(choice, res);
  const { versions: _v, cuda: _c, mps: _m, ...rest } = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  return { report, extra: rest };
}

/** checkPython without blocking the caller's thread (the extension host asks while the wizard is open). */
export function checkPythonAsync(choice: PythonChoice): Promise<PythonReport> {
  return new Promise((resolve, reject) => {
    execFile(choice.path, ['-c', PROBE], { encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => {
      const failed = error && (error as NodeJS.ErrnoException).code !== undefined && typeof (error as NodeJS.ErrnoException).code === 'string' ? error : undefined;
      try {
        resolve(readProbe(choice, { error: failed, stdout, stderr, status: error ? ((error as { code?: unknown }).code as number | null) ?? 1 : 0 }));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function readProbe(choice: PythonChoice, res: { error?: Error; stdout: string; stderr: string; status: number | null }): PythonReport {
  const where = `${choice.path} (from ${choice.source})`;
  // EPIPE: it started and ended before reading the input it was given (checkPythonWith): its status and output say why.
  if (res.error && (res.error as NodeJS.ErrnoException).code !== 'EPIPE') {
    const hint = choice.source === 'PATH' ? ' Install Python 3.9 or later, or name one with --python PATH (or ULPT_PYTHON).' : '';
    throw new PythonEngineError(`The PyTorch engine needs Python, but ${where} could not be run: ${res.error.message}.${hint}`);
  }
  let report: { versions: Record<Library, string | null>; cuda: number; mps: boolean };
  try {
    report = JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    throw new PythonEngineError(`${where} did not answer the version check (exit status ${res.status}): ${(res.stderr || res.stdout).trim().split('\n').slice(-3).join(' ')}`);
  }
  const wrong = (Object.keys(MIN_VERSIONS) as Library[]).filter((lib) => !report.versions[lib] || !versionAtLeast(report.versions[lib]!, MIN_VERSIONS[lib]));
  if (wrong.length) {
    const found = wrong.map((lib) => `${lib} ${report.versions[lib] ? `${report.versions[lib]} is older than ${MIN_VERSIONS[lib]}` : 'is not installed'}`).join('; ');
    const pins = wrong.map((lib) => `"${lib}>=${MIN_VERSIONS[lib]}"`).join(' ');
    const torchNote = wrong.includes('torch') ? ' (for CUDA, take the command for your CUDA version from pytorch.org)' : '';
    throw new PythonEngineError(`The PyTorch engine cannot run on ${where}: ${found}. Install with: ${choice.path} -m pip install ${pins}${torchNote}`);
  }
  return { python: choice.path, versions: report.versions as Record<Library, string>, cuda: report.cuda, mps: report.mps };
}

/** Where the engine trains with what this Python sees: "2 CUDA devices", "Apple MPS" or "the CPU". */
export function torchDevicesText(r: Pick<PythonReport, 'cuda' | 'mps'>): string {
  return r.cuda ? `${r.cuda} CUDA device${r.cuda > 1 ? 's' : ''}` : r.mps ? 'Apple MPS' : 'the CPU';
}
