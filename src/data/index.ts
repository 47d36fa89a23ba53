// The data side of the engine: dataset files → records → tokenized examples, plus evaluation metrics.
export { DatasetError, type Location } from './errors';
export { readRecords, formatOf, type DataRecord, type DataFormat, type ReadOptions } from './readers';
export { fillTemplate, templateFields } from './template';
export { buildExamples, buildInputs, resolveLabels, promptText, generatedAnswer, separatorFor, splitValidation, type Example, type TaskLabels } from './examples';
export {
  accuracy, macroF1, exactMatch, binaryF1, matthewsCorrelation, pearson, spearman, parseNumber, regressionScores, normalizeAnswer, tokenF1,
  squadScores, multircScores, lastNumber, gsm8kAnswer, gsm8kExactMatch,
} from './metrics';
