// Whether the PyTorch engine can train given model folders here: its Python found as `ulpt doctor` finds it, then —
// in the same run of that interpreter, once for all the folders — each config.json read by transformers' AutoConfig
// and its model_type looked up in the Auto class the engine loads with (AutoModelForCausalLM, or
// AutoModelForSeq2SeqLM for encoder-decoder models), and the memory it would train in (the first CUDA device's, else
// the machine's). No weights are loaded. A missing Python costs one failed start, not one per model.
import { enginePackageDir, findPython, checkPythonWith, torchDevicesText, type PythonReport } from './python';

export interface TorchModelVerdict {
  ok: boolean;
  /** AutoModelForCausalLM or AutoModelForSeq2SeqLM, when transformers has a class for the model_type. */
  autoClass?: string;
  /** The class that Auto class picks (GPT2LMHeadModel, T5ForConditionalGeneration). */
  modelClass?: string;
  /** Why not, when !ok. */
  note?: string;
}

export type TorchProbe =
  | { available: true; report: PythonReport; source: string; where: string; cudaMemory: number | null; models: Record<string, TorchModelVerdict> }
  | { available: false; error: string };

const MODELS_PROBE = `
import sys
models = {}
try:
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as CAUSAL, MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES as SEQ2SEQ
    for d in json.loads(sys.stdin.read() or "[]"):
        try:
            c = AutoConfig.from_pretrained(d, local_files_only=True)
        except Exception as e:
            first = " ".join(line.strip() for line in str(e).strip().splitlines()[:2])[:300] or type(e).__name__
            models[d] = {"ok": False, "note": "transformers cannot read its config.json: " + first}
            continue
        seq2seq = bool(getattr(c, "is_encoder_decoder", False))
        table, auto = (SEQ2SEQ, "AutoModelForSeq2SeqLM") if seq2seq else (CAUSAL, "AutoModelForCausalLM")
        name = table.get(c.model_type)
        if isinstance(name, (list, tuple)):
            name = name[0] if name else None
        if name:
            models[d] = {"ok": True, "autoClass": auto, "modelClass": name}
        else:
            models[d] = {"ok": False, "note": "transformers %s has no %s for model_type %r" % (transformers.__version__, auto, c.model_type)}
except Exception as e:
    result["modelsError"] = "%s: %s" % (type(e).__name__, e)
result["models"] = models
result["cudaMemory"] = None
try:
    import torch
    if torch.cuda.is_available():
        result["cudaMemory"] = torch.cuda.get_device_properties(0).total_memory
except Exception:
    pass
`;

/** One start of the engine's Python for every folder in `dirs` (absolute paths). Never throws: unavailable says why. */
export function probeTorchModels(dirs: string[], python?: string): TorchProbe {
  try {
    const choice = findPython(python, enginePackageDir());
    const { report, extra } = checkPythonWith(choice, MODELS_PROBE, JSON.stringify(dirs));
    if (typeof extra.modelsError === 'string') return { available: false, error: `${choice.path} (from ${choice.source}) could not look the models up in transformers: ${extra.modelsError}` };
    const models = (extra.models ?? {}) as Record<string, TorchModelVerdict>;
    const cudaMemory = typeof extra.cudaMemory === 'number' ? extra.cudaMemory : null;
    return { available: true, report, source: choice.source, where: torchDevicesText(report), cudaMemory, models };
  } catch (e) {
    return { available: false, error: (e as Error).message };
  }
}
