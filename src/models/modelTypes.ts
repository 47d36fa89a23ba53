// The `model_type` values the engine loads (registry.ts keys its architectures by them). No imports: the extension
// host reads this list without loading the engine.
export const SUPPORTED_MODEL_TYPES: readonly string[] = ['gpt2', 'llama', 'mistral', 'qwen2', 't5'];
