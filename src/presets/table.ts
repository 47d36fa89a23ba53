// The paper's tasks as presets: for each, the dataset as the Hugging Face Hub publishes it in Parquet (repository,
// config folder, split files), the input template over the dataset's own column names, the label words keyed by the
// label ids as published, the task type and the metric the paper reports. Sizes are the split sizes the dataset
// cards give (for MRQA: the subset's size in the MRQA 2019 paper, Fisch et al., Table 1).
//
// How sure each layout is (the Hub cannot be reached from the machines this was written on):
// - confirmed from the Hub's file listings or commits: nyu-mll/glue (rte/train-00000-of-00001.parquet and the same
//   pattern per config), mrqa-workshop/mrqa (plain_text/train-0000N-of-00009.parquet, validation-00000-of-00001),
//   allenai/winogrande (winogrande_xl/…), fancyzhx/yelp_polarity (plain_text/…), allenai/scitail (tsv_format/…),
//   google-research-datasets/paws (labeled_final/ folder; the file names follow the same converter's pattern).
// - seen in public code that downloads these files by URL (not the Hub's own listing): aps/super_glue's
//   CONFIG/validation-00000-of-00001.parquet for boolq, cb, wic and wsc.fixed, pinned to main's commit 5234c61e…, and
//   CONFIG/SPLIT-00000-of-00001.parquet for every split of those and multirc (whose idx holds paragraph and
//   question); openai/gsm8k's main/train-00000-of-00001.parquet and main/test-00000-of-00001.parquet, as the Hub's
//   own "use this dataset" snippet names them. The subset names in MRQA's `subset` column (HotpotQA,
//   NaturalQuestionsShort, NewsQA, SearchQA) are those of the MRQA 2019 release's file headers.
import type { Preset, PresetTask } from './types';

/** A split file of a Hub dataset as an hf:// reference. */
const hf = (repo: string, file: string) => `hf://datasets/${repo}/${file}`;

/** The dataset card the fields and label ids come from. */
const card = (dataset: string) => `https://huggingface.co/datasets/${dataset}`;

/** A dataset whose config folder holds one Parquet file per split (SPLIT-00000-of-00001.parquet, as the Hub converts them). */
function oneFilePerSplit(name: string, dataset: string, config: string, task: PresetTask, sizes: [number, number], validationSplit = 'validation'): Preset {
  return {
    name, dataset, config, card: card(dataset),
    train: hf(dataset, `${config}/train-00000-of-00001.parquet`),
    validation: hf(dataset, `${config}/${validationSplit}-00000-of-00001.parquet`), validationSplit,
    task, sizes: { train: sizes[0], validation: sizes[1] },
  };
}

const glue = (config: string, task: PresetTask, sizes: [number, number], validationSplit?: string) =>
  oneFilePerSplit(`glue/${config}`, 'nyu-mll/glue', config, task, sizes, validationSplit);

const superGlue = (name: string, config: string, task: PresetTask, sizes: [number, number]) =>
  oneFilePerSplit(`super_glue/${name}`, 'aps/super_glue', config, task, sizes);

/**
 * MRQA 2019 publishes its six in-domain sets in one split with a `subset` column, so a preset takes the whole split
 * (every shard of train) and keeps one subset with `filter`. Training writes the first gold answer (`answers` is a
 * list); the squad metric scores against all of them (answersField).
 */
function mrqa(name: string, subset: string, sizes: [number, number]): Preset {
  return {
    name: `mrqa/${name}`, dataset: 'mrqa-workshop/mrqa', config: 'plain_text', card: card('mrqa-workshop/mrqa'),
    train: hf('mrqa-workshop/mrqa', 'plain_text/train-*.parquet'),
    validation: hf('mrqa-workshop/mrqa', 'plain_text/validation-00000-of-00001.parquet'), validationSplit: 'validation',
    filter: { subset },
    task: { type: 'generation', template: 'question: {question} context: {context} answer:', targetField: 'answers', answersField: 'answers', metric: 'squad' },
    sizes: { train: sizes[0], validation: sizes[1] },
  };
}

const YES_NO = { 0: ' False', 1: ' True' };

export const PRESETS: readonly Preset[] = [
  // GLUE, https://huggingface.co/datasets/nyu-mll/glue — label ids as the card's ClassLabel names them.
  glue('mnli', { type: 'classification', template: 'mnli premise: {premise} hypothesis: {hypothesis}', targetField: 'label', labels: { 0: ' entailment', 1: ' neutral', 2: ' contradiction' }, metric: 'accuracy' }, [392_702, 9_815], 'validation_matched'),
  glue('qqp', { type: 'classification', template: 'qqp question1: {question1} question2: {question2}', targetField: 'label', labels: { 0: ' not_duplicate', 1: ' duplicate' }, metric: 'f1', positiveLabel: '1' }, [363_846, 40_430]),
  glue('qnli', { type: 'classification', template: 'qnli question: {question} sentence: {sentence}', targetField: 'label', labels: { 0: ' entailment', 1: ' not_entailment' }, metric: 'accuracy' }, [104_743, 5_463]),
  glue('sst2', { type: 'classification', template: 'sst2 sentence: {sentence}', targetField: 'label', labels: { 0: ' negative', 1: ' positive' }, metric: 'accuracy' }, [67_349, 872]),
  // STS-B's label is a float32 similarity score in [0, 5]: the model writes it as text, scored by Pearson correlation.
  // The column is float32: the Parquet reader gives it as its shortest decimal, so 3.8 is trained as the text "3.8".
  glue('stsb', { type: 'generation', template: 'stsb sentence1: {sentence1} sentence2: {sentence2}', targetField: 'label', metric: 'pearson' }, [5_749, 1_500]),
  glue('mrpc', { type: 'classification', template: 'mrpc sentence1: {sentence1} sentence2: {sentence2}', targetField: 'label', labels: { 0: ' not_equivalent', 1: ' equivalent' }, metric: 'f1', positiveLabel: '1' }, [3_668, 408]),
  glue('rte', { type: 'classification', template: 'rte sentence1: {sentence1} sentence2: {sentence2}', targetField: 'label', labels: { 0: ' entailment', 1: ' not_entailment' }, metric: 'accuracy' }, [2_490, 277]),
  glue('cola', { type: 'classification', template: 'cola sentence: {sentence}', targetField: 'label', labels: { 0: ' unacceptable', 1: ' acceptable' }, metric: 'matthews_correlation' }, [8_551, 1_043]),

  // SuperGLUE, https://huggingface.co/datasets/aps/super_glue — every binary task publishes 0 = False, 1 = True.
  // MultiRC: one record per answer option; idx.paragraph with idx.question groups the options of one question (the
  // pair evaluate's super_glue metric groups by: F1a over options, EM over questions).
  superGlue('multirc', 'multirc', { type: 'classification', template: 'multirc question: {question} answer: {answer} paragraph: {paragraph}', targetField: 'label', labels: YES_NO, metric: 'multirc', groupField: ['idx.paragraph', 'idx.question'], positiveLabel: '1' }, [27_243, 4_848]),
  superGlue('boolq', 'boolq', { type: 'classification', template: 'boolq question: {question} passage: {passage}', targetField: 'label', labels: YES_NO, metric: 'accuracy' }, [9_427, 3_270]),
  superGlue('wic', 'wic', { type: 'classification', template: 'wic word: {word} sentence1: {sentence1} sentence2: {sentence2}', targetField: 'label', labels: YES_NO, metric: 'accuracy' }, [5_428, 638]),
  // WSC as T5 and the prompt-tuning papers use it: the "wsc.fixed" config (span indices corrected).
  superGlue('wsc', 'wsc.fixed', { type: 'classification', template: 'wsc text: {text} Does "{span2_text}" refer to "{span1_text}"?', targetField: 'label', labels: YES_NO, metric: 'accuracy' }, [554, 104]),
  superGlue('cb', 'cb', { type: 'classification', template: 'cb premise: {premise} hypothesis: {hypothesis}', targetField: 'label', labels: { 0: ' entailment', 1: ' contradiction', 2: ' neutral' }, metric: 'accuracy' }, [250, 56]),

  // MRQA 2019 shared task, https://huggingface.co/datasets/mrqa-workshop/mrqa — subset names as its `subset` column.
  mrqa('natural_questions', 'NaturalQuestionsShort', [104_071, 12_836]),
  mrqa('hotpotqa', 'HotpotQA', [72_928, 5_904]),
  mrqa('searchqa', 'SearchQA', [117_384, 16_980]),
  mrqa('newsqa', 'NewsQA', [74_160, 4_212]),

  // WinoGrande, https://huggingface.co/datasets/allenai/winogrande — the XL training size; `answer` is the string
  // "1" or "2" (the option that fills the blank "_" in the sentence).
  oneFilePerSplit('winogrande', 'allenai/winogrande', 'winogrande_xl', { type: 'classification', template: 'winogrande sentence: {sentence} option1: {option1} option2: {option2}', targetField: 'answer', labels: { 1: ' 1', 2: ' 2' }, metric: 'accuracy' }, [40_398, 1_267]),
  // Yelp-2, https://huggingface.co/datasets/fancyzhx/yelp_polarity — label 0 is the original class "1" (negative), 1
  // is "2" (positive). It publishes no validation split: the test split is evaluated, as in the paper.
  oneFilePerSplit('yelp_polarity', 'fancyzhx/yelp_polarity', 'plain_text', { type: 'classification', template: 'yelp review: {text}', targetField: 'label', labels: { 0: ' negative', 1: ' positive' }, metric: 'accuracy' }, [560_000, 38_000], 'test'),
  // SciTail, https://huggingface.co/datasets/allenai/scitail — the tsv_format config, whose label is the string
  // "entails" or "neutral".
  oneFilePerSplit('scitail', 'allenai/scitail', 'tsv_format', { type: 'classification', template: 'scitail premise: {premise} hypothesis: {hypothesis}', targetField: 'label', labels: { entails: ' entailment', neutral: ' neutral' }, metric: 'accuracy' }, [23_097, 1_304]),
  // PAWS-Wiki, https://huggingface.co/datasets/google-research-datasets/paws — labeled_final; 1 = paraphrase.
  oneFilePerSplit('paws', 'google-research-datasets/paws', 'labeled_final', { type: 'classification', template: 'paws sentence1: {sentence1} sentence2: {sentence2}', targetField: 'label', labels: { 0: ' not_paraphrase', 1: ' paraphrase' }, metric: 'accuracy' }, [49_401, 8_000]),
  // GSM8K, https://huggingface.co/datasets/openai/gsm8k — the main config; `answer` is the worked solution ending in
  // "#### <number>", the number being what the gsm8k metric compares. No validation split: the test split.
  oneFilePerSplit('gsm8k', 'openai/gsm8k', 'main', { type: 'generation', template: 'Question: {question}\nAnswer:', targetField: 'answer', metric: 'gsm8k' }, [7_473, 1_319], 'test'),
];
