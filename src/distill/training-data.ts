/**
 * Training texts in memory: the labelled sets (train, validation) and the transfer set
 * (`--unlabeled`: texts the teacher labels, soft targets only). Records are read once, so the
 * label names (`train` without --labels) and a WordPiece vocabulary (`--build-vocab`) can be
 * taken from them before tokenizing.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { readDataset, type DatasetOptions, type DatasetRecord } from '../data/dataset.js';
import { encodeRecords, type EncodedExample } from '../data/encode.js';
import { LabelMap } from '../data/labels.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { UserError } from '../errors.js';

export interface TextSet {
  path: string;
  records: DatasetRecord[];
  /** Column choices as read, and how the texts were perturbed (`--augment`): part of the teacher-logit cache key. */
  columns: { text: string; textPair?: string; label?: string; augment?: string };
  /** True for a transfer set: labels, if the file has any, are not used. */
  unlabeled: boolean;
}

export async function readLabeledSet(path: string, dataset: Omit<DatasetOptions, 'requireLabel'> = {}): Promise<TextSet> {
  const reader = readDataset(path, { ...dataset, requireLabel: true });
  const records: DatasetRecord[] = [];
  for await (const r of reader) records.push(r);
  return { path, records, columns: columnsOf(reader), unlabeled: false };
}

/**
 * A transfer set: `.txt` is one text per line (blank lines skipped); csv/tsv/jsonl take the
 * text column as usual (`textCol`, else detected) and ignore any label column.
 */
export async function readUnlabeledSet(path: string, opts: { textCol?: string } = {}): Promise<TextSet> {
  if (extname(path).toLowerCase() === '.txt') {
    try {
      if (!(await stat(path)).isFile()) throw new UserError(`${path}: not a file`);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${path}: cannot read data (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const records: DatasetRecord[] = [];
    const stream = createReadStream(path);
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let line = 0;
    try {
      for await (const raw of lines) {
        line++;
        const text = (line === 1 ? raw.replace(/^\uFEFF/, '') : raw).trim();
        if (text !== '') records.push({ text, line });
      }
    } finally {
      lines.close();
      stream.destroy();
    }
    if (records.length === 0) throw new UserError(`${path}: no texts (expected one per line)`);
    return { path, records, columns: { text: 'line' }, unlabeled: true };
  }
  // The reader picks a label column when the file has one and then wants it on every row. A
  // transfer set's labels are not used, so name the text column as the label column too: rows
  // need only their text. (The first record tells which column the text is in.)
  const probe = readDataset(path, { textCol: opts.textCol, requireLabel: false });
  for await (const _ of probe) break;
  const textCol = opts.textCol ?? probe.textColumn!;
  const reader = readDataset(path, { textCol, textPairCol: probe.textPairColumn, labelCol: textCol, requireLabel: false });
  const records: DatasetRecord[] = [];
  for await (const r of reader) records.push({ text: r.text, ...(r.textPair !== undefined ? { textPair: r.textPair } : {}), line: r.line });
  const { text, textPair } = columnsOf(reader);
  return { path, records, columns: { text, ...(textPair !== undefined ? { textPair } : {}) }, unlabeled: true };
}

/** Label names found in the data, sorted (numbers numerically, then names by code point). */
export function labelsFromData(set: TextSet): LabelMap {
  const names = new Set<string>();
  for (const r of set.records) if (r.label !== undefined) names.add(String(r.label));
  if (names.size < 2) throw new UserError(`${set.path}: found ${names.size} distinct label(s); a classifier needs at least 2 (or pass --labels)`);
  const isInt = (s: string) => /^\d+$/.test(s);
  const sorted = [...names].sort((a, b) => {
    if (isInt(a) && isInt(b)) return Number(a) - Number(b);
    if (isInt(a) !== isInt(b)) return isInt(a) ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return new LabelMap(sorted, `the labels of ${set.path}`);
}

/** Tokenized examples; a transfer set's examples have label -1 (no hard-label term). */
export function encodeSet(set: TextSet, tokenizer: Tokenizer, labels: LabelMap | undefined): EncodedExample[] {
  if (set.unlabeled) return encodeRecords(set.records.map((r) => ({ text: r.text, textPair: r.textPair, line: r.line })), tokenizer, undefined, set.path);
  return encodeRecords(set.records, tokenizer, labels, set.path);
}

function columnsOf(reader: { textColumn?: string; textPairColumn?: string; labelColumn?: string }): TextSet['columns'] {
  return {
    text: reader.textColumn ?? '',
    ...(reader.textPairColumn !== undefined ? { textPair: reader.textPairColumn } : {}),
    ...(reader.labelColumn !== undefined ? { label: reader.labelColumn } : {}),
  };
}
