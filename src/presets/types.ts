// The shape of a preset. Field names are those of a config file, so a preset reads like the config it fills in.

/** The `task` a preset fills in (each field as in a config file's `task`; the user's own fields override them). */
export interface PresetTask {
  type: 'classification' | 'generation';
  template: string;
  targetField: string;
  /** Label id as published (stringified, as the data reader gives it) → the word the model learns to write. */
  labels?: Record<string, string>;
  metric: string;
  positiveLabel?: string;
  groupField?: string | string[];
  answersField?: string;
}

export interface Preset {
  /** What the user writes: "glue/rte", "super_glue/boolq", "gsm8k". */
  name: string;
  /** The dataset's canonical Hub id. */
  dataset: string;
  /** The dataset's config (its folder on the Hub). */
  config: string;
  /** The dataset card the fields and label ids come from. */
  card: string;
  /** hf:// references to the Parquet files of the training split and of the split evaluated. */
  train: string;
  validation: string;
  /** The split `validation` is ("validation", "validation_matched", or "test" where the dataset has no other). */
  validationSplit: string;
  /** Records kept: field → value (MRQA's subset); the user's own `filter` replaces it. */
  filter?: Record<string, string>;
  task: PresetTask;
  /** Examples in the splits (before `filter` for MRQA: the subset's own sizes). */
  sizes: { train: number; validation: number };
}
