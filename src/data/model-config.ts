import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';

/** What we use of a Hugging Face `config.json` (BertConfig and friends). */
export interface ModelConfig {
  /** The config.json file read. */
  path: string;
  modelType?: string;
  /** Label names by id (from id2label, else label2id). */
  id2label?: string[];
  label2id?: Record<string, number>;
  numLabels?: number;
  vocabSize?: number;
  maxPositionEmbeddings?: number;
  padTokenId?: number;
  typeVocabSize?: number;
  /** Tokenizer settings some configs carry (`do_lower_case`, `strip_accents`). */
  doLowerCase?: boolean;
  stripAccents?: boolean;
  raw: Record<string, unknown>;
}

/**
 * The folder a model's config and tokenizer live in: the path itself when it is a folder, else
 * its parent; for a file in an `onnx/` folder with no config.json (transformers.js's layout,
 * `<model>/onnx/model_q4.onnx`), the folder above.
 */
export function modelDir(modelPath: string): string {
  try {
    if (statSync(modelPath).isDirectory()) return modelPath;
  } catch {
    // a missing model is reported by whoever opens it
  }
  const dir = dirname(modelPath);
  if (basename(dir) === 'onnx' && !existsSync(join(dir, 'config.json')) && existsSync(join(dirname(dir), 'config.json'))) return dirname(dir);
  return dir;
}

/** Reads `config.json` next to a model (or in a model folder); undefined when there is none. */
export async function loadModelConfig(modelPath: string): Promise<ModelConfig | undefined> {
  const file = join(modelDir(modelPath), 'config.json');
  if (!existsSync(file)) return undefined;
  return parseModelConfig(file, await readFile(file, 'utf8'));
}

export function parseModelConfig(file: string, text: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`${file}: expected a JSON object`);
  const c = raw as Record<string, unknown>;
  const int = (key: string): number | undefined => {
    const v = c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new UserError(`${file}: "${key}" must be a non-negative integer`);
    return v;
  };
  const bool = (key: string): boolean | undefined => (typeof c[key] === 'boolean' ? (c[key] as boolean) : undefined);
  const config: ModelConfig = {
    path: file,
    modelType: typeof c.model_type === 'string' ? c.model_type : undefined,
    numLabels: int('num_labels'),
    vocabSize: int('vocab_size'),
    maxPositionEmbeddings: int('max_position_embeddings'),
    padTokenId: int('pad_token_id'),
    typeVocabSize: int('type_vocab_size'),
    doLowerCase: bool('do_lower_case'),
    stripAccents: bool('strip_accents'),
    raw: c,
  };
  if (c.label2id !== undefined) config.label2id = labelIdObject(file, 'label2id', c.label2id);
  if (c.id2label !== undefined) {
    config.id2label = namesFromId2Label(file, c.id2label);
  } else if (config.label2id) {
    const names: string[] = [];
    for (const [name, id] of Object.entries(config.label2id)) names[id] = name;
    config.id2label = denseNames(file, 'label2id', names);
  }
  if (config.id2label && config.numLabels !== undefined && config.numLabels !== config.id2label.length) {
    throw new UserError(`${file}: num_labels is ${config.numLabels} but id2label has ${config.id2label.length} labels`);
  }
  config.numLabels ??= config.id2label?.length;
  return config;
}

/**
 * The longest input the model's position table allows, in tokens. RoBERTa-family models
 * offset positions by padding_idx + 1, so two rows of their table are never used.
 */
export function maxSequenceLength(config: ModelConfig | undefined): number | undefined {
  const n = config?.maxPositionEmbeddings;
  if (n === undefined) return undefined;
  const offsetTypes = ['roberta', 'xlm-roberta', 'camembert', 'longformer', 'bart', 'mbart'];
  return config?.modelType && offsetTypes.includes(config.modelType) ? n - 2 : n;
}

function namesFromId2Label(file: string, value: unknown): string[] {
  if (Array.isArray(value)) return denseNames(file, 'id2label', value.map(String));
  if (value === null || typeof value !== 'object') throw new UserError(`${file}: "id2label" must be an object`);
  const names: string[] = [];
  for (const [key, name] of Object.entries(value as Record<string, unknown>)) {
    if (!/^\d+$/.test(key)) throw new UserError(`${file}: id2label key "${key}" is not an integer id`);
    names[Number(key)] = String(name);
  }
  return denseNames(file, 'id2label', names);
}

function labelIdObject(file: string, key: string, value: unknown): Record<string, number> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UserError(`${file}: "${key}" must be an object`);
  const out: Record<string, number> = {};
  for (const [name, id] of Object.entries(value as Record<string, unknown>)) {
    const n = typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : id;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new UserError(`${file}: ${key}["${name}"] is not an integer id`);
    out[name] = n;
  }
  return out;
}

function denseNames(file: string, key: string, names: string[]): string[] {
  for (let i = 0; i < names.length; i++) {
    if (names[i] === undefined) throw new UserError(`${file}: ${key} has no label for id ${i} (ids must be 0..n-1)`);
  }
  return names;
}
