/**
 * `--student-config layers=2,hidden=128,heads=2,ffn=512` (distill) and `--config ...` (train):
 * the shape of a fresh BERT-style encoder classifier. The vocabulary, the labels and (for a
 * student) the position table come from elsewhere (the teacher, the tokenizer, the data).
 */
import { defaultBertConfig, type BertConfig } from '../architectures/bert.js';
import { UserError } from '../errors.js';

/** The fields a user may set; everything else comes from the teacher or the data. */
export interface ArchitectureSpec {
  layers?: number;
  hidden?: number;
  heads?: number;
  ffn?: number;
  /** Rows of the position table (max_position_embeddings). */
  positions?: number;
  typeVocab?: number;
  initRange?: number;
  layerNormEps?: number;
}

/** Accepted keys (ours, then Hugging Face's names) -> field. */
const keys: Record<string, keyof ArchitectureSpec> = {
  layers: 'layers',
  num_hidden_layers: 'layers',
  hidden: 'hidden',
  hidden_size: 'hidden',
  heads: 'heads',
  num_attention_heads: 'heads',
  ffn: 'ffn',
  intermediate_size: 'ffn',
  positions: 'positions',
  max_position_embeddings: 'positions',
  'type-vocab': 'typeVocab',
  type_vocab_size: 'typeVocab',
  'init-range': 'initRange',
  initializer_range: 'initRange',
  eps: 'layerNormEps',
  layer_norm_eps: 'layerNormEps',
};

const integerFields = new Set<keyof ArchitectureSpec>(['layers', 'hidden', 'heads', 'ffn', 'positions', 'typeVocab']);

/** Parses `key=value,key=value` (keys: layers, hidden, heads, ffn, positions, type-vocab, init-range, eps). */
export function parseArchitectureSpec(text: string, flag = '--student-config'): ArchitectureSpec {
  const spec: ArchitectureSpec = {};
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^([A-Za-z_-]+)\s*=\s*(\S+)$/.exec(part);
    if (!m) throw new UserError(`${flag} "${text}": "${part}" is not key=value`);
    const field = keys[m[1]!.toLowerCase()];
    if (!field) {
      throw new UserError(`${flag} "${text}": unknown key "${m[1]}" (known: layers, hidden, heads, ffn, positions, type-vocab, init-range, eps)`);
    }
    const value = Number(m[2]);
    const ok = integerFields.has(field) ? Number.isInteger(value) && value >= 1 : Number.isFinite(value) && value > 0;
    if (!ok) throw new UserError(`${flag} "${text}": ${m[1]} must be a positive ${integerFields.has(field) ? 'integer' : 'number'}, got "${m[2]}"`);
    spec[field] = value;
  }
  return spec;
}

/**
 * A full BertConfig: the spec's fields over defaults (2 layers, hidden 128, 2 heads, FFN 4 x
 * hidden, 512 positions), with the vocabulary and labels given. The FFN default follows the
 * hidden size (BERT's ratio) unless set.
 */
export function bertConfigFromSpec(
  spec: ArchitectureSpec,
  fixed: { vocabSize: number; numLabels: number; maxPositions?: number },
  flag = '--student-config',
): BertConfig {
  const hidden = spec.hidden ?? defaultBertConfig.hiddenSize;
  const heads = spec.heads ?? (hidden % defaultBertConfig.numHeads === 0 ? defaultBertConfig.numHeads : 1);
  if (hidden % heads !== 0) throw new UserError(`${flag}: hidden ${hidden} is not a multiple of heads ${heads}`);
  return {
    ...defaultBertConfig,
    vocabSize: fixed.vocabSize,
    numLabels: fixed.numLabels,
    hiddenSize: hidden,
    numLayers: spec.layers ?? defaultBertConfig.numLayers,
    numHeads: heads,
    intermediateSize: spec.ffn ?? 4 * hidden,
    maxPositions: spec.positions ?? fixed.maxPositions ?? defaultBertConfig.maxPositions,
    typeVocabSize: spec.typeVocab ?? defaultBertConfig.typeVocabSize,
    initializerRange: spec.initRange ?? defaultBertConfig.initializerRange,
    layerNormEps: spec.layerNormEps ?? defaultBertConfig.layerNormEps,
  };
}
