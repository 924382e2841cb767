import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse';
import { UserError } from '../errors.js';

export type DatasetFormat = 'csv' | 'tsv' | 'jsonl';

/** One example as read from the file: raw text(s) and the raw label (a name or an integer id). */
export interface DatasetRecord {
  text: string;
  textPair?: string;
  label?: string | number;
  /** 1-based line of the file where the record starts. */
  line: number;
}

export interface DatasetOptions {
  /** Column (or jsonl key) holding the text; a 0-based index for files without a header. */
  textCol?: string;
  /** Second text of a pair task (e.g. `sentence2`). */
  textPairCol?: string;
  labelCol?: string;
  /** Default: from the extension (.csv, .tsv/.txt, .jsonl/.ndjson/.json). */
  format?: DatasetFormat;
  /** csv/tsv: whether the first row is a header. Default 'auto': a header when it names a known or requested column. */
  header?: boolean | 'auto';
  /** A missing label column is an error unless false (distillation from a teacher needs no labels). Default true. */
  requireLabel?: boolean;
}

/** Column names tried, in order, when no column is named. */
export const textColumnNames = ['text', 'sentence', 'content', 'review', 'utterance', 'query', 'document'];
export const textPairColumnNames: ReadonlyArray<readonly [string, string]> = [
  ['sentence1', 'sentence2'],
  ['premise', 'hypothesis'],
  ['question1', 'question2'],
  ['question', 'sentence'],
  ['text', 'text_pair'],
];
export const labelColumnNames = ['label', 'category', 'intent', 'labels', 'class', 'target'];

export function datasetFormatOf(path: string, format?: DatasetFormat): DatasetFormat {
  if (format) return format;
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab' || ext === '.txt') return 'tsv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  throw new UserError(`${path}: cannot tell the data format from the extension "${ext}" (use --format csv|tsv|jsonl)`);
}

export function parseDatasetFormat(value: string): DatasetFormat {
  if (value === 'csv' || value === 'tsv' || value === 'jsonl') return value;
  throw new UserError(`unknown data format "${value}" (expected csv, tsv or jsonl)`);
}

/** Which fields of a row hold what, decided once from the header (or the first row). */
interface ColumnChoice {
  text: string;
  textPair?: string;
  label?: string;
}

/**
 * Streams a dataset record by record (a 1 GB file is never held whole). Iterate it with
 * `for await`. Column choices are known after the first record (`textColumn`, ...). An empty
 * dataset, a missing column or a malformed row is a UserError naming the file.
 */
export class DatasetReader implements AsyncIterable<DatasetRecord> {
  readonly format: DatasetFormat;
  /** Columns found in the header (csv/tsv) or in the first object (jsonl); filled on the first record. */
  columns: string[] = [];
  textColumn?: string;
  textPairColumn?: string;
  labelColumn?: string;
  bytesRead = 0;
  totalBytes = 0;
  records = 0;

  constructor(
    readonly path: string,
    readonly options: DatasetOptions = {},
  ) {
    this.format = datasetFormatOf(path, options.format);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DatasetRecord> {
    try {
      const info = await stat(this.path);
      if (!info.isFile()) throw new UserError(`${this.path}: not a file`);
      this.totalBytes = info.size;
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${this.path}: cannot read data (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const source = this.format === 'jsonl' ? this.readJsonl() : this.readDelimited();
    for await (const record of source) {
      this.records++;
      yield record;
    }
    if (this.records === 0) throw new UserError(`${this.path}: dataset is empty (no examples)`);
  }

  private openStream() {
    const stream = createReadStream(this.path);
    stream.on('data', (chunk) => {
      this.bytesRead += chunk.length;
    });
    return stream;
  }

  private async *readDelimited(): AsyncGenerator<DatasetRecord> {
    const tsv = this.format === 'tsv';
    const source = this.openStream();
    const parser = source.pipe(
      parseCsv({
        delimiter: tsv ? '\t' : ',',
        // TSV (GLUE style) has no quoting: a quote is an ordinary character. CSV follows RFC 4180.
        quote: tsv ? false : '"',
        relax_column_count: true,
        skip_empty_lines: true,
        bom: true,
        info: true,
        raw: true,
      }),
    );
    let choice: ColumnChoice | undefined;
    let index: { text: number; textPair?: number; label?: number } | undefined;
    let first = true;
    // csv-parse's own line count is off inside quoted fields, and its raw text drops the LF of a
    // CRLF record delimiter: count line breaks (CRLF, LF or a lone CR) in the raw text ourselves.
    let linesBefore = 0;
    try {
      for await (const item of parser as AsyncIterable<{ record: string[]; raw: string }>) {
        const { record, raw } = item;
        const line = 1 + linesBefore + countLineBreaks(/^[\r\n]*/.exec(raw)![0]);
        linesBefore += countLineBreaks(raw);
        if (first) {
          first = false;
          const header = this.isHeader(record);
          this.columns = header ? record.map((c) => c.trim()) : record.map((_, i) => String(i));
          choice = this.chooseColumns(this.columns, header ? undefined : record);
          index = {
            text: this.columns.indexOf(choice.text),
            textPair: choice.textPair === undefined ? undefined : this.columns.indexOf(choice.textPair),
            label: choice.label === undefined ? undefined : this.columns.indexOf(choice.label),
          };
          if (header) continue;
        }
        if (record.length === 1 && record[0]!.trim() === '') continue;
        const cols = index!;
        const text = record[cols.text];
        if (text === undefined) {
          throw new UserError(`${this.path}:${line}: row has ${record.length} fields, no "${choice!.text}" (column ${cols.text + 1})`);
        }
        const out: DatasetRecord = { text, line };
        if (cols.textPair !== undefined) {
          const pair = record[cols.textPair];
          if (pair === undefined) throw new UserError(`${this.path}:${line}: row has no "${choice!.textPair}" field`);
          out.textPair = pair;
        }
        if (cols.label !== undefined) {
          const label = record[cols.label];
          if (label === undefined || label.trim() === '') {
            throw new UserError(`${this.path}:${line}: row has no value in label column "${choice!.label}"`);
          }
          out.label = label.trim();
        }
        yield out;
      }
    } catch (e) {
      if (e instanceof UserError) throw e;
      const err = e as Error & { code?: string; lines?: number };
      if (err.code?.startsWith('CSV_')) {
        throw new UserError(`${this.path}${err.lines ? ':' + err.lines : ''}: malformed ${this.format}: ${err.message}`);
      }
      throw e;
    } finally {
      // A consumer that stops early (an error on a bad label) must not leave the file open.
      source.destroy();
    }
  }

  private async *readJsonl(): AsyncGenerator<DatasetRecord> {
    const source = this.openStream();
    const lines = createInterface({ input: source, crlfDelay: Infinity });
    let lineNo = 0;
    let choice: ColumnChoice | undefined;
    try {
      for await (const rawLine of lines) {
        lineNo++;
        const text = lineNo === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine;
        if (text.trim() === '') continue;
        let row: unknown;
        try {
          row = JSON.parse(text);
        } catch (e) {
          throw new UserError(`${this.path}:${lineNo}: not valid JSON (${(e as Error).message})`);
        }
        if (row === null || typeof row !== 'object' || Array.isArray(row)) {
          throw new UserError(`${this.path}:${lineNo}: expected one JSON object per line`);
        }
        const obj = row as Record<string, unknown>;
        if (!choice) {
          this.columns = Object.keys(obj);
          choice = this.chooseColumns(this.columns);
        }
        const value = obj[choice.text];
        if (typeof value !== 'string') {
          throw new UserError(`${this.path}:${lineNo}: "${choice.text}" is ${describe(value)}, expected a string`);
        }
        const out: DatasetRecord = { text: value, line: lineNo };
        if (choice.textPair !== undefined) {
          const pair = obj[choice.textPair];
          if (typeof pair !== 'string') {
            throw new UserError(`${this.path}:${lineNo}: "${choice.textPair}" is ${describe(pair)}, expected a string`);
          }
          out.textPair = pair;
        }
        if (choice.label !== undefined) {
          const label = obj[choice.label];
          if (typeof label === 'number' || (typeof label === 'string' && label.trim() !== '')) {
            out.label = typeof label === 'string' ? label.trim() : label;
          } else if (typeof label === 'boolean') {
            out.label = label ? 1 : 0;
          } else {
            throw new UserError(`${this.path}:${lineNo}: label "${choice.label}" is ${describe(label)}, expected a name or an integer`);
          }
        }
        yield out;
      }
    } finally {
      // A consumer that stops early (an error on a bad label) must not leave the file open.
      lines.close();
      source.destroy();
    }
  }

  /** A first row is a header when it names a requested or well-known column (or when told so). */
  private isHeader(row: string[]): boolean {
    const opt = this.options.header ?? 'auto';
    if (opt !== 'auto') return opt;
    const cells = row.map((c) => c.trim().toLowerCase());
    const requested = [this.options.textCol, this.options.textPairCol, this.options.labelCol]
      .filter((c): c is string => c !== undefined && !/^\d+$/.test(c))
      .map((c) => c.toLowerCase());
    const known = [...textColumnNames, ...labelColumnNames, ...textPairColumnNames.flat(), ...requested];
    if (cells.some((c) => known.includes(c))) return true;
    // No known name: a row whose cells are all non-numeric text is still taken as a header
    // (so a missing column is reported with the names found), one with a numeric cell is data.
    return !cells.some((c) => /^-?\d+$/.test(c));
  }

  private chooseColumns(columns: string[], firstDataRow?: string[]): ColumnChoice {
    const o = this.options;
    const find = (name: string) => columns.find((c) => c === name) ?? columns.find((c) => c.toLowerCase() === name.toLowerCase());
    const found = () => `columns found: ${columns.map((c) => (firstDataRow ? `${c} (no header)` : c)).join(', ')}`;
    const need = (name: string, what: string): string => {
      const col = find(name);
      if (col === undefined) throw new UserError(`${this.path}: no ${what} column "${name}" (${found()})`);
      return col;
    };
    let text: string | undefined;
    let textPair: string | undefined;
    if (o.textCol !== undefined) {
      text = need(o.textCol, 'text');
      if (o.textPairCol !== undefined) textPair = need(o.textPairCol, 'text-pair');
    } else if (firstDataRow) {
      text = this.guessTextColumn(columns, firstDataRow);
    } else {
      for (const [a, b] of textPairColumnNames) {
        const ca = find(a);
        const cb = find(b);
        if (ca !== undefined && cb !== undefined) {
          text = ca;
          textPair = cb;
          break;
        }
      }
      text ??= textColumnNames.map(find).find((c) => c !== undefined);
      if (o.textPairCol !== undefined) textPair = need(o.textPairCol, 'text-pair');
    }
    if (text === undefined) {
      throw new UserError(`${this.path}: no text column (looked for ${textColumnNames.join(', ')}, or pass --text-col; ${found()})`);
    }
    let label: string | undefined;
    if (o.labelCol !== undefined) {
      label = need(o.labelCol, 'label');
    } else if (firstDataRow) {
      label = columns.find((c) => c !== text && c !== textPair);
    } else {
      label = labelColumnNames.map(find).find((c) => c !== undefined && c !== text && c !== textPair);
    }
    if (label === undefined && o.requireLabel !== false) {
      throw new UserError(`${this.path}: no label column (looked for ${labelColumnNames.join(', ')}, or pass --label-col; ${found()})`);
    }
    this.textColumn = text;
    this.textPairColumn = textPair;
    this.labelColumn = label;
    return { text, textPair, label };
  }

  /** Without a header: the text is the column that is not an integer (the longest one when several). */
  private guessTextColumn(columns: string[], row: string[]): string | undefined {
    const candidates = row.map((v, i) => ({ v, i })).filter(({ v }) => !/^-?\d+$/.test(v.trim()));
    if (candidates.length === 0) return undefined;
    candidates.sort((a, b) => b.v.length - a.v.length);
    return columns[candidates[0]!.i];
  }
}

/** Streams the records of a csv, tsv or jsonl file (see DatasetReader). */
export function readDataset(path: string, options: DatasetOptions = {}): DatasetReader {
  return new DatasetReader(path, options);
}

/** Reads every record into memory (for small files and for tests). */
export async function readAllRecords(path: string, options: DatasetOptions = {}): Promise<DatasetRecord[]> {
  const out: DatasetRecord[] = [];
  for await (const r of readDataset(path, options)) out.push(r);
  return out;
}

/** Groups a record stream into arrays of at most `size` records (bounded memory for big files). */
export async function* chunkRecords<T>(source: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let chunk: T[] = [];
  for await (const r of source) {
    chunk.push(r);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

function countLineBreaks(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13) {
      n++;
      if (s.charCodeAt(i + 1) === 10) i++;
    }
  }
  return n;
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  return `a ${Array.isArray(v) ? 'list' : typeof v}`;
}
