// Limits of the built-in engine that code outside it reads (the model list, the Hub catalog) without loading
// TensorFlow.js.

/** What a WASM instance may fill: its 4 GiB address space less a margin for the allocator. */
export const WASM_HEAP_BUDGET = 3.6 * 2 ** 30;
