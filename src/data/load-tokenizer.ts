import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { HfTokenizer } from './hf-tokenizer.js';
import type { Tokenizer } from './tokenizer.js';
import { WordPieceTokenizer } from './wordpiece.js';

export interface LoadTokenizerOptions {
  /** Longest encoding in tokens, specials included. Default: tokenizer_config.json's model_max_length when sane, else 128. */
  maxLength?: number;
  /** Used when tokenizer_config.json does not say (e.g. from the model's config.json). Default true. */
  doLowerCase?: boolean;
  stripAccents?: boolean;
}

/** Tokenizer files looked for in a folder, in order. */
export const tokenizerFileNames = ['tokenizer.json', 'vocab.txt'];

/** The tokenizer file of a folder (tokenizer.json, else vocab.txt), or undefined. */
export function findTokenizerFile(dir: string): string | undefined {
  return tokenizerFileNames.map((n) => join(dir, n)).find((p) => existsSync(p));
}

/**
 * Loads a tokenizer from a folder (tokenizer.json, else vocab.txt) or from either file.
 * Settings come from tokenizer_config.json next to it when present.
 */
export async function loadTokenizer(dirOrFile: string, options: LoadTokenizerOptions = {}): Promise<Tokenizer> {
  let file = dirOrFile;
  let isDir: boolean;
  try {
    isDir = statSync(dirOrFile).isDirectory();
  } catch {
    throw new UserError(`${dirOrFile}: tokenizer not found`);
  }
  if (isDir) {
    const found = findTokenizerFile(dirOrFile);
    if (!found) throw new UserError(`${dirOrFile}: no tokenizer (looked for ${tokenizerFileNames.join(', ')})`);
    file = found;
  }
  const settings = await readTokenizerConfig(dirname(file));
  const modelMax = typeof settings.model_max_length === 'number' && settings.model_max_length < 100_000 ? settings.model_max_length : undefined;
  const maxLength = options.maxLength ?? modelMax;
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 1)) throw new UserError(`max length must be a positive integer, got ${maxLength}`);
  const text = await readFile(file, 'utf8');
  if (file.endsWith('.json')) return new HfTokenizer(file, text, settings, { maxLength });
  if (basename(file).endsWith('.txt')) {
    const str = (k: string) => (typeof settings[k] === 'string' ? (settings[k] as string) : undefined);
    const bool = (k: string) => (typeof settings[k] === 'boolean' ? (settings[k] as boolean) : undefined);
    return WordPieceTokenizer.fromVocabText(file, text, {
      maxLength,
      doLowerCase: bool('do_lower_case') ?? options.doLowerCase,
      stripAccents: bool('strip_accents') ?? options.stripAccents,
      tokenizeChineseChars: bool('tokenize_chinese_chars'),
      unkToken: str('unk_token'),
      clsToken: str('cls_token'),
      sepToken: str('sep_token'),
      padToken: str('pad_token'),
    });
  }
  throw new UserError(`${file}: unknown tokenizer file (expected tokenizer.json or a WordPiece vocab.txt)`);
}

async function readTokenizerConfig(dir: string): Promise<Record<string, unknown>> {
  const file = join(dir, 'tokenizer_config.json');
  if (!existsSync(file)) return {};
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}
