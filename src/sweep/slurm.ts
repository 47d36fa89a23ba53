// `ulpt export-job --grid …`: a sweep as one SLURM job array. Each cell is an ordinary exported job (src/engine/
// exportJob.ts: the job tokenized here, the PyTorch engine, launch.sh) under cells/<id>/, and sweep.sbatch runs cell
// number $SLURM_ARRAY_TASK_ID through its launch.sh into runs/<id>/. The folder's sweep.json names those run folders,
// so once they are back here `ulpt sweep --results DIR` writes the table from them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportJob, JobOutError } from '../engine/exportJob';
import { resolveHubInputs } from '../hub/resolve';
import { writeFileAtomic } from '../io/atomic';
import { SWEEP_FILE, writeSweepFile, type SweepFile, type SweepPlan } from './plan';

export const SWEEP_SBATCH = 'sweep.sbatch';

export interface ExportedSweep {
  dir: string;
  cells: number;
  warnings: string[];
}

/** Why `dir` cannot take the sweep: it must be new, empty, or an earlier sweep export (replaced), unless `force`. */
function sweepOutProblem(dir: string, force: boolean): string | null {
  if (!fs.existsSync(dir) || force) return null;
  if (!fs.statSync(dir).isDirectory()) return `${dir} is a file; the sweep's jobs need a folder (new, empty, or an earlier sweep export).`;
  const entries = fs.readdirSync(dir);
  if (!entries.length || (entries.includes(SWEEP_SBATCH) && entries.includes(SWEEP_FILE))) return null;
  return `${dir} is not empty and does not hold an exported sweep (${entries.slice(0, 4).join(', ')}${entries.length > 4 ? ', …' : ''}), so nothing is written there. Choose a new or empty folder, or pass --force.`;
}

/** Writes every cell's job, sweep.json (run folders under runs/) and sweep.sbatch into `dir`. */
export async function exportSweepJob(plan: SweepPlan, dir: string, opts: { force?: boolean } = {}): Promise<ExportedSweep> {
  const problem = sweepOutProblem(dir, !!opts.force);
  if (problem) throw new JobOutError(problem);
  const warnings = new Set<string>();
  for (const cell of plan.file.cells) {
    const config = await resolveHubInputs(plan.configs.get(cell.id)!);
    const job = await exportJob({ ...config, engine: 'torch' }, path.join(dir, 'cells', cell.id), { force: !!opts.force });
    for (const w of job.warnings) warnings.add(w);
  }
  // The cells' run folders and adapters as the array writes them, relative to this folder.
  const file: SweepFile = { ...plan.file, cells: plan.file.cells.map((c) => ({ ...c, runDir: path.join('runs', c.id), out: path.join('adapters', `${c.id}.ulpt`) })) };
  writeSweepFile(dir, file);
  writeFileAtomic(path.join(dir, SWEEP_SBATCH), sbatch(file));
  fs.chmodSync(path.join(dir, SWEEP_SBATCH), 0o755);
  return { dir, cells: file.cells.length, warnings: [...warnings] };
}

function sbatch(file: SweepFile): string {
  const n = file.cells.length;
  return `#!/usr/bin/env bash
# The sweep ${file.name} as a SLURM job array: ${n} runs, one array task each (one GPU per run here; adjust the
# resources and the environment lines to your cluster), at most 8 at a time:
#   sbatch sweep.sbatch
# A task that is cut resumes from its checkpoint when it runs again (sbatch --array=K sweep.sbatch). Without SLURM,
# SLURM_ARRAY_TASK_ID=K bash sweep.sbatch runs task K here. When every run is done, copy this folder back and:
#   ulpt sweep --results <this folder>
#SBATCH --job-name=ulpt-sweep
#SBATCH --array=0-${n - 1}%8
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
set -euo pipefail
HERE="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
if [ -n "\${SLURM_SUBMIT_DIR:-}" ] && [ -f "\${SLURM_SUBMIT_DIR}/${SWEEP_SBATCH}" ]; then HERE="\${SLURM_SUBMIT_DIR}"; fi
# module load cuda; source ~/venvs/ulpt/bin/activate      # your Python with torch + requirements.txt
# export MODEL=/shared/models/your-model                 # the model folder on the cluster
CELLS=(
${file.cells.map((c) => `  ${c.id}`).join('\n')}
)
CELL="\${CELLS[\${SLURM_ARRAY_TASK_ID:?set SLURM_ARRAY_TASK_ID (0 … ${n - 1})}]}"
export RUN_DIR="$HERE/runs/$CELL"
export OUT="$HERE/adapters/$CELL.ulpt"
mkdir -p "$HERE/adapters"
bash "$HERE/cells/$CELL/launch.sh"
`;
}
