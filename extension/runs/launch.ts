// How the trainer child process is started, from the user's settings. Kept apart from VS Code so the rules can be
// tested: which Node runs it, and what its environment says.
import type { BackendName } from '../../src/backend';

export interface LaunchSettings {
  /** ulpt.nodePath: a Node executable (e.g. a system Node that has @tensorflow/tfjs-node-gpu). */
  nodePath: string;
  /** ulpt.tfjsNodePath: a folder the native tfjs packages are resolved from. */
  tfjsNodePath: string;
  /** ulpt.backend: used when the training config does not name one. */
  backend: BackendName;
  /** ulpt.threads: threads per training step when the config leaves `threads` on auto (0: auto). */
  threads?: number;
  /** ulpt.pythonPath, else the Python extension's selected interpreter: runs the PyTorch engine (empty: python3). */
  pythonPath?: string;
  /** ulpt.torchProcesses: the PyTorch engine's processes on this machine (torchrun), default 1. */
  torchProcesses?: number;
  /** ulpt.torchFsdp: shard the model's blocks over those processes. */
  torchFsdp?: boolean;
}

export interface HostRuntime {
  execPath: string;
  /** process.versions; `electron` is set in desktop VS Code, where execPath is the Electron binary. */
  versions: Partial<Record<string, string>>;
  env: NodeJS.ProcessEnv;
}

export interface LaunchOptions {
  execPath: string;
  env: NodeJS.ProcessEnv;
  /** For the log: which Node runs the trainer, and why. */
  description: string;
}

export function trainerLaunch(settings: LaunchSettings, host: HostRuntime): LaunchOptions {
  const env: NodeJS.ProcessEnv = { ...host.env };
  if (settings.tfjsNodePath.trim()) env.ULPT_TFJS_NODE_PATH = settings.tfjsNodePath.trim();
  else delete env.ULPT_TFJS_NODE_PATH;
  if (settings.threads && Number.isInteger(settings.threads) && settings.threads >= 1) env.ULPT_THREADS = String(settings.threads);
  else delete env.ULPT_THREADS;
  if (settings.pythonPath?.trim()) env.ULPT_PYTHON = settings.pythonPath.trim();
  const nproc = settings.torchProcesses;
  if (nproc && Number.isInteger(nproc) && nproc > 1) env.ULPT_TORCH_NPROC = String(nproc);
  else delete env.ULPT_TORCH_NPROC;
  if (settings.torchFsdp) env.ULPT_TORCH_SHARD = 'fsdp';
  else delete env.ULPT_TORCH_SHARD;
  const nodePath = settings.nodePath.trim();
  if (nodePath) {
    delete env.ELECTRON_RUN_AS_NODE;
    return { execPath: nodePath, env, description: `${nodePath} (ulpt.nodePath)` };
  }
  if (host.versions.electron) {
    // Desktop VS Code: its executable is Electron, which behaves as plain Node with this variable set.
    env.ELECTRON_RUN_AS_NODE = '1';
    return { execPath: host.execPath, env, description: `the editor's Node (Electron ${host.versions.electron}, Node ${host.versions.node})` };
  }
  return { execPath: host.execPath, env, description: `the editor's Node ${host.versions.node ?? ''}`.trim() };
}
