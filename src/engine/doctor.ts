// `ulpt doctor`: what can train here. The built-in engine's backends (which one `auto` takes, and why each faster one
// was skipped), the PyTorch engine (which Python, its torch/transformers, CUDA devices, Apple MPS), the Hugging Face
// cache and Hub settings (whether a token is set, never its value), and the machine. Every probe is tried and its
// outcome reported; nothing here stops at the first thing missing.
import * as os from 'node:os';
import { initBackend, type BackendReport } from '../backend';
import { hubCacheDir, hubOffline } from '../hub/cache';
import { hubEnv } from '../hub/client';
import { checkPython, enginePackageDir, findPython, MIN_VERSIONS, torchDevicesText, type PythonReport } from './python';

export interface DoctorReport {
  machine: { platform: string; arch: string; cpus: number; cpuModel: string; memoryGiB: number; node: string };
  builtin: { ok: true; backend: BackendReport } | { ok: false; error: string };
  torch: { ok: true; report: PythonReport; source: string } | { ok: false; python: string | null; source: string | null; error: string };
  hub: { cache: string; endpoint: string; token: boolean; offline: boolean };
  /** One line per engine: what trains here, or what is missing. */
  verdict: string[];
}

export async function doctor(opts: { python?: string } = {}): Promise<DoctorReport> {
  const cpus = os.cpus();
  const machine = {
    platform: os.platform(), arch: os.arch(), cpus: cpus.length, cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.versions.node,
  };
  let builtin: DoctorReport['builtin'];
  try {
    builtin = { ok: true, backend: await initBackend('auto') };
  } catch (e) {
    builtin = { ok: false, error: (e as Error).message };
  }
  let torch: DoctorReport['torch'];
  let choice: { path: string; source: string } | null = null;
  try {
    choice = findPython(opts.python, enginePackageDir());
    torch = { ok: true, report: checkPython(choice), source: choice.source };
  } catch (e) {
    torch = { ok: false, python: choice?.path ?? null, source: choice?.source ?? null, error: (e as Error).message };
  }
  // Read as the Hub client reads them; the token only as "set or not".
  const { endpoint, token } = hubEnv();
  const hub = { cache: hubCacheDir(), endpoint, token: token !== null, offline: hubOffline() };
  return { machine, builtin, torch, hub, verdict: verdict(builtin, torch) };
}

function verdict(builtin: DoctorReport['builtin'], torch: DoctorReport['torch']): string[] {
  const out: string[] = [];
  out.push(builtin.ok
    ? `built-in engine: trains here on ${builtin.backend.name} — ${builtin.backend.device} (ulpt train, the default)`
    : `built-in engine: no backend could start (${builtin.error})`);
  if (torch.ok) {
    const r = torch.report;
    const where = torchDevicesText(r);
    const many = r.cuda > 1 ? `; --nproc ${r.cuda} uses every GPU (torchrun)` : '';
    out.push(`PyTorch engine: trains here on ${where} with ${r.python} (torch ${r.versions.torch}, transformers ${r.versions.transformers}): ulpt train --engine torch${many}`);
  } else {
    out.push(`PyTorch engine: not available — ${torch.error}`);
  }
  return out;
}

export function doctorText(r: DoctorReport): string {
  const lines = [`machine: ${r.machine.platform}/${r.machine.arch}, ${r.machine.cpus} cores (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}`];
  if (r.builtin.ok) {
    const b = r.builtin.backend;
    lines.push(`built-in engine (TensorFlow.js): auto → ${b.name} — ${b.device}`);
    for (const s of b.skipped) lines.push(`  skipped ${s.name}: ${s.reason}`);
  } else {
    lines.push(`built-in engine (TensorFlow.js): ${r.builtin.error}`);
  }
  if (r.torch.ok) {
    const t = r.torch.report;
    lines.push(`PyTorch engine: ${t.python} (from ${r.torch.source})`);
    lines.push(`  ${Object.entries(t.versions).map(([k, v]) => `${k} ${v}`).join(', ')} (needs ${Object.entries(MIN_VERSIONS).map(([k, v]) => `${k} ≥ ${v}`).join(', ')})`);
    lines.push(`  CUDA devices: ${t.cuda}; Apple MPS: ${t.mps ? 'yes' : 'no'}`);
  } else {
    lines.push(`PyTorch engine: ${r.torch.error}`);
  }
  lines.push(`Hugging Face: cache ${r.hub.cache}; endpoint ${r.hub.endpoint}; token ${r.hub.token ? 'set (HF_TOKEN or huggingface-cli login)' : 'not set'}${r.hub.offline ? '; offline (HF_HUB_OFFLINE)' : ''}`);
  lines.push('', 'what can train here:', ...r.verdict.map((v) => `  ${v}`));
  return lines.join('\n');
}
