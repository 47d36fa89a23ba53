// Architectures by `model_type`. Adding one means one file beside gpt2.ts and one line here.
import type { Architecture } from './types';
import { gpt2 } from './gpt2';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ARCHITECTURES: Record<string, Architecture<any>> = { gpt2 };

export function supportedModelTypes(): string[] {
  return Object.keys(ARCHITECTURES);
}

export function architectureFor(modelType: unknown, configFile: string): Architecture<unknown> {
  const arch = typeof modelType === 'string' ? ARCHITECTURES[modelType] : undefined;
  if (!arch) {
    throw new Error(`${configFile}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${supportedModelTypes().join(', ')}.`);
  }
  return arch;
}
