import { readDataset } from '../data/dataset.js';
import { loadModelTokenizer } from '../data/model-tokenizer.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import type { TextEncoding } from './inputs.js';
import type { BenchOptions } from './types.js';

/** The first `count` texts of a dataset file (labels not needed). */
export async function readTexts(path: string, count: number, options: BenchOptions['dataOptions'] = {}): Promise<Array<{ text: string; textPair?: string }>> {
  const texts: Array<{ text: string; textPair?: string }> = [];
  for await (const r of readDataset(path, { ...options, requireLabel: false })) {
    texts.push(r.textPair !== undefined ? { text: r.text, textPair: r.textPair } : { text: r.text });
    if (texts.length >= count) break;
  }
  if (texts.length === 0) throw new UserError(`${path}: no examples`);
  return texts;
}

/**
 * Encodes texts with the tokenizer found next to each model (tokenizer.json or vocab.txt, checked
 * against the model's vocabulary), cut to maxLength tokens. Tokenizers are cached per model and length.
 */
export class TextEncoder {
  private readonly tokenizers = new Map<string, Tokenizer>();

  constructor(private readonly texts: ReadonlyArray<{ text: string; textPair?: string }>) {}

  async encode(modelPath: string, maxLength: number | undefined): Promise<{ encodings: TextEncoding[]; padId: number }> {
    const key = `${modelPath}\u0000${maxLength ?? ''}`;
    let tokenizer = this.tokenizers.get(key);
    if (!tokenizer) {
      tokenizer = (await loadModelTokenizer(modelPath, maxLength !== undefined ? { maxLength } : {})).tokenizer;
      this.tokenizers.set(key, tokenizer);
    }
    const encodings = this.texts.map((t) => tokenizer.encode(t.text, t.textPair));
    return { encodings, padId: tokenizer.padId };
  }
}
