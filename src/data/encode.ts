import { UserError } from '../errors.js';
import { readDataset, type DatasetOptions, type DatasetReader, type DatasetRecord } from './dataset.js';
import type { LabelMap } from './labels.js';
import type { Encoding, Tokenizer } from './tokenizer.js';

/** One tokenized example: ids, segment ids, its label index (-1 when unlabelled) and source line. */
export interface EncodedExample extends Encoding {
  label: number;
  line: number;
}

/**
 * The label index of a record: through the label map when there is one, else the label must be
 * a non-negative integer. -1 for an unlabelled record.
 */
export function labelIndex(record: DatasetRecord, labels: LabelMap | undefined, file: string): number {
  if (record.label === undefined) return -1;
  if (labels) return labels.resolve(record.label, file, record.line);
  const n = typeof record.label === 'number' ? record.label : /^\d+$/.test(record.label) ? Number(record.label) : NaN;
  if (!Number.isInteger(n) || n < 0) {
    throw new UserError(`${file}:${record.line}: label "${record.label}" is a name, but the model has no id2label (pass --labels)`);
  }
  return n;
}

/** Tokenizes records (in order) and maps their labels; the tokenizer truncates to its maxLength. */
export function encodeRecords(records: readonly DatasetRecord[], tokenizer: Tokenizer, labels?: LabelMap, file = '<data>'): EncodedExample[] {
  const out = new Array<EncodedExample>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const { ids, typeIds } = tokenizer.encode(r.text, r.textPair);
    out[i] = { ids, typeIds, label: labelIndex(r, labels, file), line: r.line };
  }
  return out;
}

export interface EncodedDataset {
  path: string;
  examples: EncodedExample[];
  /** The reader, for the format and the columns it chose. */
  reader: DatasetReader;
  /** Examples cut to the tokenizer's maxLength. */
  truncated: number;
}

/**
 * Streams a dataset file through a tokenizer, keeping only ids (not the texts): what
 * distillation needs for a whole training set.
 */
export async function encodeDataset(
  path: string,
  tokenizer: Tokenizer,
  options: DatasetOptions & { labels?: LabelMap; onProgress?: (examples: number, bytesRead: number, totalBytes: number) => void } = {},
): Promise<EncodedDataset> {
  const reader = readDataset(path, options);
  const examples: EncodedExample[] = [];
  const before = tokenizer.truncatedCount;
  for await (const r of reader) {
    const { ids, typeIds } = tokenizer.encode(r.text, r.textPair);
    examples.push({ ids, typeIds, label: labelIndex(r, options.labels, path), line: r.line });
    if (options.onProgress && (examples.length & 4095) === 0) options.onProgress(examples.length, reader.bytesRead, reader.totalBytes);
  }
  return { path, examples, reader, truncated: tokenizer.truncatedCount - before };
}
