// Limits of the built-in engine that code outside it reads (the model list, the Hub catalog) without loading
// TensorFlow.js.

/** What a WASM instance may fill: its 4 GiB address space less a margin for the allocator. */
export const WASM_HEAP_BUDGET = 3.6 * 2 ** 30;

/** What the WASM backend can hold: its heap is 4 GiB, and a training step needs room beside the weights. */
export const WASM_WEIGHT_LIMIT_BYTES = 3 * 2 ** 30;

/** Whether the WASM backend loads a model of this many parameters (float32 in memory whatever their type on disk). */
export function wasmHoldsWeights(parameters: number): boolean {
  return 4 * parameters <= WASM_WEIGHT_LIMIT_BYTES;
}
