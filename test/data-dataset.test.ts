import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkRecords, readAllRecords, readDataset } from '../src/data/dataset.js';
import { UserError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

async function failure(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

describe('readDataset', () => {
  it('parses CSV with quoted multi-line fields, escaped quotes and the line each record starts on', async () => {
    const p = file(
      'multi.csv',
      'text,category\n' +
        'How do I locate my card?,card_arrival\n' +
        '"I still have not received my new card,\nI ordered over a week ago.",card_arrival\n' +
        '\n' +
        '"She said ""hi""\r\nand left",greeting\n' +
        'last one,greeting',
    );
    const records = await readAllRecords(p);
    expect(records).toEqual([
      { text: 'How do I locate my card?', label: 'card_arrival', line: 2 },
      { text: 'I still have not received my new card,\nI ordered over a week ago.', label: 'card_arrival', line: 3 },
      { text: 'She said "hi"\r\nand left', label: 'greeting', line: 6 },
      { text: 'last one', label: 'greeting', line: 8 },
    ]);
  });

  it('counts lines right in CRLF files with line breaks inside quotes', async () => {
    const p = file('crlf.csv', 'text,category\r\nfirst,a\r\n"\nsecond",b\r\n"\r\n\r\nthird",c\r\nfourth,d\r\n');
    const records = await readAllRecords(p);
    expect(records.map((r) => [r.text, r.line])).toEqual([
      ['first', 2],
      ['\nsecond', 3],
      ['\r\n\r\nthird', 5],
      ['fourth', 8],
    ]);
  });

  it('reads TSV with a header (GLUE style: quotes are plain characters)', async () => {
    const p = file('glue.tsv', 'sentence\tlabel\nit \'s a "charming" film . \t1\nbleak \t0\n');
    const reader = readDataset(p);
    const records = [];
    for await (const r of reader) records.push(r);
    expect(records).toEqual([
      { text: 'it \'s a "charming" film . ', label: '1', line: 2 },
      { text: 'bleak ', label: '0', line: 3 },
    ]);
    expect(reader.format).toBe('tsv');
    expect(reader.columns).toEqual(['sentence', 'label']);
    expect(reader.textColumn).toBe('sentence');
    expect(reader.labelColumn).toBe('label');
  });

  it('reads TSV without a header, in either column order', async () => {
    const a = await readAllRecords(file('nohead.tsv', 'a fine film\t1\na dull one\t0\n'));
    expect(a).toEqual([
      { text: 'a fine film', label: '1', line: 1 },
      { text: 'a dull one', label: '0', line: 2 },
    ]);
    const b = await readAllRecords(file('nohead2.tsv', '1\ta fine film\n0\ta dull one\n'));
    expect(b.map((r) => [r.text, r.label])).toEqual([
      ['a fine film', '1'],
      ['a dull one', '0'],
    ]);
    const forced = await readAllRecords(file('nohead3.tsv', 'great movie\tpositive\n'), { header: false });
    expect(forced).toEqual([{ text: 'great movie', label: 'positive', line: 1 }]);
    const byIndex = await readAllRecords(file('nohead4.tsv', 'x\t7\tsome text\t2\n'), { textCol: '2', labelCol: '3' });
    expect(byIndex).toEqual([{ text: 'some text', label: '2', line: 1 }]);
  });

  it('reads jsonl with integer or name labels and sentence pairs', async () => {
    const p = file(
      'pairs.jsonl',
      '{"sentence1": "A man plays.", "sentence2": "Someone plays.", "label": 0}\n\n{"sentence1": "x", "sentence2": "y", "label": "not_entailment"}\n',
    );
    const records = await readAllRecords(p);
    expect(records).toEqual([
      { text: 'A man plays.', textPair: 'Someone plays.', label: 0, line: 1 },
      { text: 'x', textPair: 'y', label: 'not_entailment', line: 3 },
    ]);
  });

  it('finds columns by the usual names or by --text-col/--label-col', async () => {
    const p = file('intent.csv', 'id,utterance,intent\n1,hello there,greet\n');
    expect(await readAllRecords(p)).toEqual([{ text: 'hello there', label: 'greet', line: 2 }]);
    const q = file('custom.csv', 'review,stars\nnice,5\n');
    expect(await readAllRecords(q, { textCol: 'review', labelCol: 'stars' })).toEqual([{ text: 'nice', label: '5', line: 2 }]);
  });

  it('names the columns found when the text or label column is missing', async () => {
    const p = file('nolabel.csv', 'text,score\nhello,3\n');
    const e = await failure(readAllRecords(p));
    expect(e.message).toContain('nolabel.csv: no label column');
    expect(e.message).toContain('columns found: text, score');
    const q = file('notext.csv', 'body,label\nhello,1\n');
    expect((await failure(readAllRecords(q))).message).toMatch(/no text column .*columns found: body, label/);
    const r = file('wrongcol.jsonl', '{"text": "a", "label": 1}\n');
    expect((await failure(readAllRecords(r, { labelCol: 'gold' }))).message).toMatch(/no label column "gold" \(columns found: text, label\)/);
    // Unlabelled data is fine for callers that say so (distillation from a teacher).
    expect(await readAllRecords(p, { requireLabel: false })).toEqual([{ text: 'hello', line: 2 }]);
  });

  it('rejects an empty dataset, a header-only file and bad rows with one clear line', async () => {
    expect((await failure(readAllRecords(file('empty.csv', '')))).message).toMatch(/empty\.csv: dataset is empty/);
    expect((await failure(readAllRecords(file('header.tsv', 'sentence\tlabel\n')))).message).toMatch(/dataset is empty/);
    expect((await failure(readAllRecords(file('blank.jsonl', '\n\n')))).message).toMatch(/dataset is empty/);
    expect((await failure(readAllRecords(file('bad.jsonl', '{"text": "a", "label": 1}\n{oops\n')))).message).toMatch(/bad\.jsonl:2: not valid JSON/);
    expect((await failure(readAllRecords(file('short.tsv', 'sentence\tlabel\nfine\t1\nno label here\n')))).message).toMatch(
      /short\.tsv:3: row has no value in label column "label"/,
    );
    expect((await failure(readAllRecords(file('quote.csv', 'text,label\n"unclosed,1\n')))).message).toMatch(/quote\.csv.*malformed csv/);
    expect((await failure(readAllRecords(join(dir, 'missing.csv')))).message).toMatch(/missing\.csv: cannot read data \(ENOENT\)/);
    expect((await failure(readAllRecords(file('data.parquet', 'x')))).message).toMatch(/--format/);
  });

  it('streams: the first record arrives before the file is read whole', async () => {
    const p = join(dir, 'big.tsv');
    const out = createWriteStream(p);
    out.write('sentence\tlabel\n');
    const row = 'a reasonably long sentence that takes some room in the file , again and again .\t1\n';
    for (let i = 0; i < 60_000; i++) out.write(row);
    await new Promise<void>((resolve) => out.end(resolve));
    const reader = readDataset(p);
    let seen = 0;
    for await (const r of reader) {
      if (seen === 0) {
        expect(r.line).toBe(2);
        expect(reader.bytesRead).toBeLessThan(reader.totalBytes / 4);
      }
      seen++;
    }
    expect(seen).toBe(60_000);
    let chunks = 0;
    for await (const chunk of chunkRecords(readDataset(p), 25_000)) {
      expect(chunk.length).toBe(chunks < 2 ? 25_000 : 10_000);
      chunks++;
    }
    expect(chunks).toBe(3);
    // Stopping early closes the file (no hang, no open handle left behind).
    for (const f of [p, file('stop.jsonl', '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n')]) {
      let n = 0;
      for await (const _ of readDataset(f)) if (++n === 1) break;
      expect(n).toBe(1);
    }
  });
});
