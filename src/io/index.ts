// The engine's file formats: safetensors, the .ulpt adapter, the PEFT export, atomic writes.
export { writeFileAtomic } from './atomic';
export {
  DTYPE_BYTES,
  MAX_HEADER_BYTES,
  SafetensorsError,
  SafetensorsFile,
  parseHeader,
  serializeSafetensors,
  toFloat32,
  writeSafetensors,
  type DType,
  type SafetensorsHeader,
  type TensorInfo,
  type TensorToWrite,
} from './safetensors';
export {
  ADAPTER_FORMAT,
  ADAPTER_METADATA_KEY,
  ADAPTER_VERSION,
  AdapterError,
  AdapterMismatchError,
  TENSOR_NAMES,
  checkAdapterMatchesModel,
  embeddingFingerprint,
  expectedTensors,
  materializePrompt,
  readAdapter,
  trainableParameters,
  validateAdapterMeta,
  writeAdapter,
  type Adapter,
  type AdapterMeta,
  type AdapterMethod,
  type AdapterTensors,
} from './adapter';
export {
  PEFT_CONFIG_NAME, PEFT_WEIGHTS_NAME, exportPeft, readPeftPrompt, adapterFromPeft, peftBaseModelFolder, PeftImportError,
  type PeftExport, type PeftExportOptions, type PeftTaskType, type PeftPrompt, type PeftImportModel, type PeftImportOptions,
} from './peft';
