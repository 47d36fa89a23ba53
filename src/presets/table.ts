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

const GLUE_CARD = 'https://huggingface.co/datasets/nyu-mll/glue';
const SUPER_GLUE_CARD = 'https://huggingface.co/datasets/aps/super_glue';
const MRQA_CARD = 'https://huggingface.co/datasets/mrqa-workshop/mrqa';

/** A split file of a Hub dataset as an hf:// reference. */
const hf = (repo: string, file: string) => `hf://datasets/${repo}/${file}`;

function glue(config: string, task: PresetTask, sizes: [number, number], validationSplit = 'validation'): Preset {
  return {
    name: `glue/${config}`, dataset: 'nyu-mll/glue', config, card: GLUE_CARD,
    train: hf('nyu-mll/glue', `${config}/train-00000-of-00001.parquet`),
    validation: hf('nyu-mll/glue', `${config}/${validationSplit}-00000-of-00001.parquet`), validationSplit,
    task, sizes: { train: sizes[0], validation: sizes[1] },
  };
}

function superGlue(name: string, config: string, task: PresetTask, sizes: [number, number]): Preset {
  return {
    name: `super_glue/${name}`, dataset: 'aps/super_glue', config, card: SUPER_GLUE_CARD,
    train: hf('aps/super_glue', `${config}/train-00000-of-00001.parquet`),
    validation: hf('aps/super_glue', `${config}/validation-00000-of-00001.parquet`), validationSplit: 'validation',
    task, sizes: { train: sizes[0], validation: sizes[1] },
  };
}

/**
 * MRQA 2019 publishes its six in-domain sets in one split with a `subset` column, so a preset takes the whole split
 * (every shard of train) and keeps one subset with `filter`. Training writes the first gold answer (`answers` is a
 * list); the squad metric scores against all of them (answersField).
 */
function mrqa(name: string, subset: string, sizes: [number, number]): Preset {
  return {
    name: `mrqa/${name}`, dataset: 'mrqa-workshop/mrqa', config: 'plain_text', card: MRQA_CARD,
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
  {
    name: 'winogrande', dataset: 'allenai/winogrande', config: 'winogrande_xl', card: 'https://huggingface.co/datasets/allenai/winogrande',
    train: hf('allenai/winogrande', 'winogrande_xl/train-00000-of-00001.parquet'),
    validation: hf('allenai/winogrande', 'winogrande_xl/validation-00000-of-00001.parquet'), validationSplit: 'validation',
    task: { type: 'classification', template: 'winogrande sentence: {sentence} option1: {option1} option2: {option2}', targetField: 'answer', labels: { 1: ' 1', 2: ' 2' }, metric: 'accuracy' },
    sizes: { train: 40_398, validation: 1_267 },
  },
  // Yelp-2, https://huggingface.co/datasets/fancyzhx/yelp_polarity — label 0 is the original class "1" (negative), 1
  // is "2" (positive). It publishes no validation split: the test split is evaluated, as in the paper.
  {
    name: 'yelp_polarity', dataset: 'fancyzhx/yelp_polarity', config: 'plain_text', card: 'https://huggingface.co/datasets/fancyzhx/yelp_polarity',
    train: hf('fancyzhx/yelp_polarity', 'plain_text/train-00000-of-00001.parquet'),
    validation: hf('fancyzhx/yelp_polarity', 'plain_text/test-00000-of-00001.parquet'), validationSplit: 'test',
    task: { type: 'classification', template: 'yelp review: {text}', targetField: 'label', labels: { 0: ' negative', 1: ' positive' }, metric: 'accuracy' },
    sizes: { train: 560_000, validation: 38_000 },
  },
  // SciTail, https://huggingface.co/datasets/allenai/scitail — the tsv_format config, whose label is the string
  // "entails" or "neutral".
  {
    name: 'scitail', dataset: 'allenai/scitail', config: 'tsv_format', card: 'https://huggingface.co/datasets/allenai/scitail',
    train: hf('allenai/scitail', 'tsv_format/train-00000-of-00001.parquet'),
    validation: hf('allenai/scitail', 'tsv_format/validation-00000-of-00001.parquet'), validationSplit: 'validation',
    task: { type: 'classification', template: 'scitail premise: {premise} hypothesis: {hypothesis}', targetField: 'label', labels: { entails: ' entailment', neutral: ' neutral' }, metric: 'accuracy' },
    sizes: { train: 23_097, validation: 1_304 },
  },
  // PAWS-Wiki, https://huggingface.co/datasets/google-research-datasets/paws — labeled_final; 1 = paraphrase.
  {
    name: 'paws', dataset: 'google-research-datasets/paws', config: 'labeled_final', card: 'https://huggingface.co/datasets/google-research-datasets/paws',
    train: hf('google-research-datasets/paws', 'labeled_final/train-00000-of-00001.parquet'),
    validation: hf('google-research-datasets/paws', 'labeled_final/validation-00000-of-00001.parquet'), validationSplit: 'validation',
    task: { type: 'classification', template: 'paws sentence1: {sentence1} sentence2: {sentence2}', targetField: 'label', labels: { 0: ' not_paraphrase', 1: ' paraphrase' }, metric: 'accuracy' },
    sizes: { train: 49_401, validation: 8_000 },
  },
  // GSM8K, https://huggingface.co/datasets/openai/gsm8k — the main config; `answer` is the worked solution ending in
  // "#### <number>", the number being what the gsm8k metric compares. No validation split: the test split.
  {
    name: 'gsm8k', dataset: 'openai/gsm8k', config: 'main', card: 'https://huggingface.co/datasets/openai/gsm8k',
    train: hf('openai/gsm8k', 'main/train-00000-of-00001.parquet'),
    validation: hf('openai/gsm8k', 'main/test-00000-of-00001.parquet'), validationSplit: 'test',
    task: { type: 'generation', template: 'Question: {question}\nAnswer:', targetField: 'answer', metric: 'gsm8k' },
    sizes: { train: 7_473, validation: 1_319 },
  },
];
