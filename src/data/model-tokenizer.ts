import { UserError } from '../errors.js';
import { findTokenizerFile, loadTokenizer, tokenizerFileNames } from './load-tokenizer.js';
import { loadModelConfig, maxSequenceLength, modelDir, type ModelConfig } from './model-config.js';
import { embeddingRows } from './model-vocab.js';
import type { Tokenizer } from './tokenizer.js';

export interface ModelTokenizerOptions {
  /** Tokenizer file or folder; default: the one next to the model. */
  tokenizer?: string;
  /** Default: the model's position table, else the tokenizer's own default (128). */
  maxLength?: number;
  /** The model's config.json, when already read (else it is looked for next to the model). */
  config?: ModelConfig | null;
  /** Whether the command has a --tokenizer flag to suggest when no tokenizer is found (eval, train do; distill, bench do not). */
  tokenizerFlag?: boolean;
}

export interface ModelTokenizer {
  tokenizer: Tokenizer;
  config?: ModelConfig;
  /** Longest input the position table allows, when known. */
  positionLimit?: number;
  /** Lines for the user (a --max-length cut to the position table). */
  warnings: string[];
}

/**
 * The tokenizer a model needs, checked against it: maxLength no longer than the model's
 * position table, and as many tokens as the model has embedding rows (config.json vocab_size,
 * else the word-embedding table in the graph; a little padding of the table is allowed).
 */
export async function loadModelTokenizer(modelPath: string, options: ModelTokenizerOptions = {}): Promise<ModelTokenizer> {
  const config = options.config === null ? undefined : (options.config ?? (await loadModelConfig(modelPath)));
  const warnings: string[] = [];
  const limit = maxSequenceLength(config);
  let maxLength = options.maxLength ?? limit;
  if (options.maxLength !== undefined && limit !== undefined && options.maxLength > limit) {
    warnings.push(`${modelPath}: --max-length ${options.maxLength} is longer than the model's position table; using ${limit}`);
    maxLength = limit;
  }
  let source = options.tokenizer;
  if (source === undefined) {
    source = findTokenizerFile(modelDir(modelPath));
    if (!source) {
      throw new UserError(
        `${modelPath}: no tokenizer next to the model (looked for ${tokenizerFileNames.join(', ')} in ${modelDir(modelPath)}); ` +
          (options.tokenizerFlag ? 'pass --tokenizer' : 'put the vocab.txt or tokenizer.json the model was trained with next to it'),
      );
    }
  }
  const tokenizer = await loadTokenizer(source, { maxLength, doLowerCase: config?.doLowerCase, stripAccents: config?.stripAccents });
  // The table itself when the graph shows it: a config.json vocab_size larger than the table
  // would let ids past its end through, and onnxruntime fails on them mid-run.
  const tableRows = await embeddingRows(modelPath);
  const rows = tableRows ?? config?.vocabSize;
  const where = tableRows !== undefined ? 'its word-embedding table' : `vocab_size in ${config?.path}`;
  // Models often pad their embedding table a little past the vocabulary (to a multiple of 8 or 64).
  if (rows !== undefined && (tokenizer.vocabSize > rows || rows - tokenizer.vocabSize > 1024)) {
    throw new UserError(
      `${tokenizer.path}: the tokenizer has ${tokenizer.vocabSize} tokens but ${modelPath} has ${rows} embedding rows (${where}); wrong tokenizer for this model`,
    );
  }
  return { tokenizer, config, positionLimit: limit, warnings };
}
