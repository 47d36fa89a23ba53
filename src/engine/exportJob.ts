// `ulpt export-job`: a self-contained folder to copy to a cluster, where the PyTorch engine trains the job through
// torchrun with no Node and no data files: the job prepared once here (prepared.safetensors: token ids, labels, the
// resolved config), the engine's Python package with the config schema, requirements.txt, launch.sh (torchrun with
// the usual node and rendezvous variables), a SLURM script and a README. Nothing from the environment is written
// (an HF_TOKEN stays where it is).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FieldNames, TrainConfig } from '../config';
import { writeFileAtomic } from '../io/atomic';
import { PREPARED_FILE, prepareJob, writePreparedJob } from './prepare';
import { enginePackageDir, MIN_VERSIONS } from './python';

/** The export's folder cannot be used as it is: a setting the user changes (another folder, or --force). */
export class JobOutError extends Error {
  override name = 'JobOutError';
}

export interface ExportedJob {
  dir: string;
  files: string[];
  examples: { train: number; validation: number };
  warnings: string[];
}

const LAUNCH = 'launch.sh';
const MARKER = 'job/config.json';

/** Why `dir` cannot take the job: it must be new, empty, or an earlier export (replaced), unless `force`. */
export function jobOutProblem(dir: string, force: boolean): string | null {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch {
    return null;
  }
  if (stat.isSymbolicLink() && !force) return `${dir} is a symbolic link; name the folder itself, or pass --force.`;
  if (!fs.statSync(dir).isDirectory()) return `${dir} is a file; the job needs a folder (new, empty, or an earlier export).`;
  const entries = fs.readdirSync(dir);
  if (!entries.length || force) return null;
  const earlier = fs.existsSync(path.join(dir, LAUNCH)) && fs.existsSync(path.join(dir, MARKER));
  return earlier ? null : `${dir} is not empty and does not hold an exported job (${entries.slice(0, 4).join(', ')}${entries.length > 4 ? ', …' : ''}), so nothing is written there. Choose a new or empty folder, or pass --force.`;
}

/** Prepares the job (every check of `ulpt train` on the data and model) and writes the folder. */
/** How launch.sh runs the job unless its environment says otherwise (SHARD, PRECISION). */
export interface LaunchDefaults {
  shard?: 'fsdp';
  precision?: 'fp32' | 'bf16' | 'fp16';
}

export async function exportJob(requested: TrainConfig, dir: string,
  opts: { force?: boolean; names?: FieldNames; schemaFile?: string; launch?: LaunchDefaults } = {}): Promise<ExportedJob> {
  const problem = jobOutProblem(dir, !!opts.force);
  if (problem) throw new JobOutError(problem);
  const packageDir = enginePackageDir();
  const job = await prepareJob({ ...requested, engine: 'torch' }, opts.names);
  fs.mkdirSync(path.join(dir, 'job'), { recursive: true });
  const files: string[] = [];
  const put = (rel: string, text: string, mode?: number) => {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, text);
    if (mode) fs.chmodSync(file, mode);
    files.push(rel);
  };
  writePreparedJob(path.join(dir, 'job'), job, false);
  files.push(`job/${PREPARED_FILE}`);
  put('job/config.json', JSON.stringify(job.config, null, 2) + '\n');
  for (const rel of copyPackage(path.join(packageDir, 'ulpt_torch'), path.join(dir, 'python', 'ulpt_torch'))) files.push(path.join('python', 'ulpt_torch', rel));
  // The schema beside the package: the engine validates the config against it (config.py schema_path).
  const schema = opts.schemaFile ?? schemaFile(packageDir);
  put('python/ulpt_torch/config.schema.json', fs.readFileSync(schema, 'utf8'));
  put('requirements.txt', requirements());
  put(LAUNCH, launchScript(job.config, opts.launch ?? {}), 0o755);
  put('slurm.sbatch', slurmScript(), 0o644);
  put('README.md', readme(job.config, job.data.train.length, job.data.validation.length));
  return { dir, files: files.sort(), examples: { train: job.data.train.length, validation: job.data.validation.length }, warnings: job.warnings };
}

/** The package's .py files (no caches), copied; returns their paths relative to `to`. */
function copyPackage(from: string, to: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(from, rel), { withFileTypes: true })) {
    const name = path.join(rel, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '__pycache__') out.push(...copyPackage(from, to, name));
    } else if (entry.name.endsWith('.py')) {
      fs.mkdirSync(path.dirname(path.join(to, name)), { recursive: true });
      writeFileAtomic(path.join(to, name), fs.readFileSync(path.join(from, name)));
      out.push(name);
    }
  }
  return out;
}

/** src/config.schema.json in the repository, else the copy the bundles ship beside them (dist/). */
function schemaFile(packageDir: string): string {
  for (const candidate of [path.join(path.dirname(packageDir), 'src', 'config.schema.json'), path.join(__dirname, 'config.schema.json')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new JobOutError('The configuration schema (config.schema.json) was not found beside the engine; reinstall ULPT Studio.');
}

/** Ranges, not pins: a cluster installs the torch build that matches its CUDA. */
function requirements(): string {
  return [
    '# The PyTorch engine of ULPT Studio. Install torch first, the build for your CUDA (see pytorch.org), then:',
    '#   python -m pip install -r requirements.txt',
    ...Object.entries(MIN_VERSIONS).map(([lib, v]) => `${lib}>=${v}`),
    '',
  ].join('\n');
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function launchScript(config: TrainConfig, defaults: LaunchDefaults): string {
  return `#!/usr/bin/env bash
# Trains this job with the PyTorch engine of ULPT Studio, on one process or through torchrun.
#   PYTHON          the Python with torch and transformers (default: python3)
#   MODEL           the model folder on this machine (default: where the job was prepared: ${config.model})
#   RUN_DIR         the run folder (default: ./run beside this script); on several nodes, a shared folder
#   OUT             where the trained adapter goes (default: ./adapter.ulpt beside this script)
#   NNODES, NPROC_PER_NODE   nodes and processes per node (default 1 and 1)
#   NODE_RANK, MASTER_ADDR, MASTER_PORT   a static rendezvous (torchrun's own variables), or
#   RDZV_ENDPOINT (host:port), RDZV_ID    an elastic c10d rendezvous
#   DEVICE          auto (CUDA, then MPS, then CPU), cuda, mps or cpu; PRECISION fp32, bf16 or fp16
#   SHARD           none (every process holds the whole model) or fsdp (the model's blocks sharded over all
#                   NNODES × NPROC_PER_NODE processes: a model too big for one GPU); default ${defaults.shard ?? 'none'}
# Run again with the same RUN_DIR to resume from its last checkpoint.
set -euo pipefail
HERE="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
PYTHON="\${PYTHON:-python3}"
PREPARED_WITH=${sh(config.model)}
MODEL="\${MODEL:-$PREPARED_WITH}"
RUN_DIR="\${RUN_DIR:-$HERE/run}"
OUT="\${OUT:-$HERE/adapter.ulpt}"
NNODES="\${NNODES:-1}"
NPROC_PER_NODE="\${NPROC_PER_NODE:-1}"
DEVICE="\${DEVICE:-auto}"
PRECISION="\${PRECISION:-${defaults.precision ?? 'fp32'}}"
SHARD="\${SHARD:-${defaults.shard ?? 'none'}}"
export PYTHONPATH="$HERE/python\${PYTHONPATH:+:$PYTHONPATH}"
export ULPT_CONFIG_SCHEMA="$HERE/python/ulpt_torch/config.schema.json"

mkdir -p "$RUN_DIR"
# The job into the run folder, on every node (same bytes, each copy renamed into place whole), unless it is there.
for f in config.json prepared.safetensors; do
  if [ ! -f "$RUN_DIR/$f" ]; then cp "$HERE/job/$f" "$RUN_DIR/.$f.$$" && mv -f "$RUN_DIR/.$f.$$" "$RUN_DIR/$f"; fi
done
RESUME=()
if [ -f "$RUN_DIR/checkpoint.safetensors" ]; then RESUME=(--resume); fi
TRAIN=(-m ulpt_torch train --run-dir "$RUN_DIR" --model "$MODEL" --out "$OUT" --device "$DEVICE" --precision "$PRECISION" --shard "$SHARD" --owner "launch.sh" "\${RESUME[@]}")

if [ "$NNODES" = 1 ] && [ "$NPROC_PER_NODE" = 1 ]; then
  exec "$PYTHON" "\${TRAIN[@]}"
elif [ -n "\${RDZV_ENDPOINT:-}" ]; then
  exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --nproc-per-node "$NPROC_PER_NODE" \\
    --rdzv-backend c10d --rdzv-endpoint "$RDZV_ENDPOINT" --rdzv-id "\${RDZV_ID:-ulpt}" "\${TRAIN[@]}"
elif [ "$NNODES" = 1 ]; then
  exec "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$NPROC_PER_NODE" "\${TRAIN[@]}"
else
  exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --nproc-per-node "$NPROC_PER_NODE" \\
    --node-rank "\${NODE_RANK:?set NODE_RANK (0 … NNODES-1), or RDZV_ENDPOINT}" \\
    --master-addr "\${MASTER_ADDR:?set MASTER_ADDR}" --master-port "\${MASTER_PORT:-29500}" "\${TRAIN[@]}"
fi
`;
}

function slurmScript(): string {
  return `#!/usr/bin/env bash
# A SLURM example: 2 nodes × 4 GPUs. Adjust the resources and the environment lines to your cluster, then:
#   sbatch slurm.sbatch
#SBATCH --job-name=ulpt
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
set -euo pipefail
cd "\${SLURM_SUBMIT_DIR}"
# module load cuda; source ~/venvs/ulpt/bin/activate      # your Python with torch + requirements.txt
export NNODES="\${SLURM_NNODES}"
export NPROC_PER_NODE="\${NPROC_PER_NODE:-4}"
export RDZV_ENDPOINT="$(scontrol show hostnames "\${SLURM_JOB_NODELIST}" | head -n 1):29500"
export RDZV_ID="\${SLURM_JOB_ID}"
export RUN_DIR="\${RUN_DIR:-\${SLURM_SUBMIT_DIR}/run}"   # on a file system every node sees
# export MODEL=/shared/models/your-model                 # the model folder on the cluster
srun bash launch.sh
`;
}

function readme(config: TrainConfig, train: number, validation: number): string {
  const method = config.method === 'ulpt' ? `ULPT r=${config.rank}` : 'prompt tuning';
  return `# A ULPT Studio training job

${method}, ${config.promptLength} virtual tokens, ${config.steps} steps, batch ${config.batchSize}, on ${train} training and
${validation} validation examples (already tokenized: \`job/prepared.safetensors\`; no data files are needed here).
Model: \`${config.model}\` on the machine that prepared the job; point \`MODEL\` at the same model here (its token
embeddings are checked against the job's fingerprint).

    python -m pip install torch            # the build for your CUDA, from pytorch.org
    python -m pip install -r requirements.txt
    MODEL=/path/to/model bash launch.sh                      # one process
    MODEL=/path/to/model NPROC_PER_NODE=4 bash launch.sh     # every GPU of this node (torchrun)
    sbatch slurm.sbatch                                      # several nodes (edit it first)

The run folder (\`RUN_DIR\`, default \`./run\`) is the one ULPT Studio reads: open it in VS Code (also through
Remote-SSH) to watch it live in the ULPT side panel, or copy it back. Running \`launch.sh\` again with the same
\`RUN_DIR\` resumes from its last checkpoint; either engine can resume it. The adapter goes to \`OUT\`
(default \`./adapter.ulpt\`).
`;
}
