// Architectures by `model_type`. Adding one means one file beside gpt2.ts and one line here.
import type { Architecture } from './types';
import { gpt2 } from './gpt2';
import { llama, mistral, qwen2 } from './llama';
import { t5 } from './t5';
import { SUPPORTED_MODEL_TYPES } from './modelTypes';

// Keys: SUPPORTED_MODEL_TYPES (modelTypes.ts, which the extension reads without loading the engine).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ARCHITECTURES: Record<string, Architecture<any>> = { gpt2, llama, mistral, qwen2, t5 };

export function supportedModelTypes(): string[] {
  return [...SUPPORTED_MODEL_TYPES];
}

/** The registry's keys (a test keeps SUPPORTED_MODEL_TYPES equal to them). */
export function registeredModelTypes(): string[] {
  return Object.keys(ARCHITECTURES);
}

export function architectureFor(modelType: unknown, configFile: string): Architecture<unknown> {
  const arch = typeof modelType === 'string' && Object.hasOwn(ARCHITECTURES, modelType) ? ARCHITECTURES[modelType] : undefined;
  if (!arch) {
    throw new Error(`${configFile}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${supportedModelTypes().join(', ')}.`);
  }
  return arch;
}
