import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readAllRecords } from '../src/data/dataset.js';
import { loadTokenizer } from '../src/data/load-tokenizer.js';
import { WordPieceTokenizer } from '../src/data/wordpiece.js';
import { UserError } from '../src/errors.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const hasShared = existsSync(join(SHARED, 'data/tokenizers/bert-base-uncased/vocab.txt'));
if (!hasShared) console.warn(`../shared is absent (${SHARED}): skipping the bert-base-uncased WordPiece checks`);

const dir = mkdtempSync(join(tmpdir(), 'distillery-tok-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A tiny WordPiece vocabulary; ids are line numbers - 1.
const fixtureTokens = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', // 0-4
  'the', 'movie', 'is', 'great', 'un', // 5-9
  '##believ', '##able', '##s', '.', ',', // 10-14
  '!', "'", 's', 'cafe', '北', // 15-19
  '京', 'a', '##b', 'naive', '$', // 20-24
];
const fixtureVocab = fixtureTokens.join('\n') + '\n';

function tokenizerJson(tokens: readonly string[], lowercase = true): string {
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const id = (t: string) => tokens.indexOf(t);
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map((t) => ({ id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
    },
  });
}

describe('WordPieceTokenizer (fixture vocabulary)', () => {
  const tok = WordPieceTokenizer.fromVocabText('fixture/vocab.txt', fixtureVocab, { maxLength: 16 });

  it('lower-cases, strips accents, splits punctuation and words into ## pieces', () => {
    expect(tok.encode('The movie is UNBELIEVABLE!')).toEqual({ ids: [2, 5, 6, 7, 9, 10, 11, 15, 3], typeIds: [0, 0, 0, 0, 0, 0, 0, 0, 0] });
    expect(tok.tokenize("Café's naïve $")).toEqual(['cafe', "'", 's', 'naive', '$']);
    expect(tok.tokenize('ab abb')).toEqual(['a', '##b', 'a', '##b', '##b']);
  });

  it('gives [UNK] for a word with no split, an unknown character, or a word over 100 characters', () => {
    expect(tok.tokenize('great zzz ☃ great')).toEqual(['great', '[UNK]', '[UNK]', 'great']);
    expect(tok.tokenize('unbelievablez')).toEqual(['[UNK]']);
    expect(tok.tokenize('a' + 'b'.repeat(99))).toHaveLength(100);
    expect(tok.tokenize('a' + 'b'.repeat(100))).toEqual(['[UNK]']);
  });

  it('cleans control characters and whitespace, spaces out CJK ideographs, keeps special tokens whole', () => {
    // NUL and the zero-width space (Cf) are dropped, tab and no-break space separate words.
    expect(tok.tokenize('the\u0000movie\tis\u00a0great\u200b.')).toEqual(['[UNK]', 'is', 'great', '.']);
    expect(tok.tokenize('the北京movie')).toEqual(['the', '北', '京', 'movie']);
    expect(tok.encode('[MASK] movie').ids).toEqual([2, 4, 6, 3]);
  });

  it('encodes pairs with segment ids and truncates longest-first, counting truncations', () => {
    expect(tok.encode('great movie', 'the movie')).toEqual({ ids: [2, 8, 6, 3, 5, 6, 3], typeIds: [0, 0, 0, 0, 1, 1, 1] });
    const short = WordPieceTokenizer.fromVocabText('v', fixtureVocab, { maxLength: 7 });
    expect(short.encode('the movie is great').ids).toEqual([2, 5, 6, 7, 8, 3]);
    expect(short.truncationWarning).toBeUndefined();
    expect(short.encode('the movie is great . !').ids).toEqual([2, 5, 6, 7, 8, 13, 3]);
    expect(short.encode('the movie is great', 'great').ids).toEqual([2, 5, 6, 7, 3, 8, 3]);
    expect(short.encode('great', 'the movie is great').ids).toEqual([2, 8, 3, 5, 6, 7, 3]);
    expect(short.truncatedCount).toBe(3);
    expect(short.truncationWarning).toBe('3 of 4 examples were longer than 7 tokens and were truncated');
  });

  it('honours tokenizer_config.json (cased) and finds the tokenizer in a folder', async () => {
    const cased = join(dir, 'cased');
    mkdirSync(cased);
    writeFileSync(join(cased, 'vocab.txt'), fixtureVocab + 'The\n');
    writeFileSync(join(cased, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false, model_max_length: 32 }));
    const t = await loadTokenizer(cased);
    expect(t.kind).toBe('wordpiece');
    expect(t.maxLength).toBe(32);
    expect(t.encode('The movie').ids).toEqual([2, 25, 6, 3]);
    expect(t.vocabSize).toBe(26);
    expect(t.padId).toBe(0);
    await expect(loadTokenizer(join(dir, 'nothing-here'))).rejects.toThrow(UserError);
    mkdirSync(join(dir, 'empty'));
    await expect(loadTokenizer(join(dir, 'empty'))).rejects.toThrow(/no tokenizer \(looked for tokenizer\.json, vocab\.txt\)/);
  });
});

describe('tokenizer.json through @huggingface/tokenizers', () => {
  it('matches our WordPiece on the fixture and truncates the same way', async () => {
    const d = join(dir, 'hf');
    mkdirSync(d);
    writeFileSync(join(d, 'tokenizer.json'), tokenizerJson(fixtureTokens));
    const hf = await loadTokenizer(d, { maxLength: 7 });
    const wp = WordPieceTokenizer.fromVocabText('v', fixtureVocab, { maxLength: 7 });
    expect(hf.kind).toBe('tokenizer.json');
    expect(hf.vocabSize).toBe(fixtureTokens.length);
    expect(hf.padId).toBe(0);
    for (const [a, b] of [
      ['The movie is UNBELIEVABLE!', undefined],
      ["Café's naïve $", undefined],
      ['great zzz ☃', undefined],
      ['the movie is great .', undefined],
      ['the movie is great', 'great'],
      ['great movie', 'the movie'],
    ] as const) {
      expect(hf.encode(a, b), `${a} | ${b}`).toEqual(wp.encode(a, b));
    }
    expect(hf.truncatedCount).toBe(wp.truncatedCount);
  });
});

describe.skipIf(!hasShared)('bert-base-uncased WordPiece (../shared)', () => {
  const vocabPath = join(SHARED, 'data/tokenizers/bert-base-uncased/vocab.txt');

  // Expected ids derived by hand: BERT's BasicTokenizer + greedy WordPiece applied on paper, each
  // token's id looked up with `grep -nxF TOKEN vocab.txt` (id = line - 1). The sentences are SST-2
  // validation lines (3, 4, 353, 708, and 24 with an unknown character inserted).
  const cases: [string, number[]][] = [
    // punctuation: ' splits "'s", "--" is two "-"
    ["it 's slow -- very , very slow . ", [101, 2009, 1005, 1055, 4030, 1011, 1011, 2200, 1010, 2200, 4030, 1012, 102]],
    // un ##fl ##in ##ching ##ly
    ['unflinchingly bleak and desperate ', [101, 4895, 10258, 2378, 8450, 2135, 21657, 1998, 7143, 102]],
    // accent stripped: cliché -> cliche -> cl ##iche
    ['how do you spell cliché ? ', [101, 2129, 2079, 2017, 6297, 18856, 17322, 1029, 102]],
    // æ has no decomposition: næs -> n ##æ ##s; elling -> el ##ling
    [
      '( næs ) directed the stage version of elling , and gets fine performances from his two leads who originated the characters on stage . ',
      [101, 1006, 1050, 29667, 2015, 1007, 2856, 1996, 2754, 2544, 1997, 3449, 2989, 1010, 1998, 4152, 2986, 4616, 2013, 2010, 2048, 5260, 2040, 7940, 1996, 3494, 2006, 2754, 1012, 102],
    ],
    // hyphens split; ☃ is not in the vocabulary -> [UNK] (100); hilarious ##ly, in ##ept
    ['hilariously inept and ridiculous ☃ . ', [101, 26316, 2135, 1999, 23606, 1998, 9951, 100, 1012, 102]],
    ['good old-fashioned slash-and-hack is back ! ', [101, 2204, 2214, 1011, 13405, 18296, 1011, 1998, 1011, 20578, 2003, 2067, 999, 102]],
  ];

  it('gives the reference ids for SST-2 sentences', async () => {
    const tok = await loadTokenizer(vocabPath, { maxLength: 64 });
    expect(tok.vocabSize).toBe(30522);
    for (const [text, ids] of cases) expect(tok.encode(text).ids, text).toEqual(ids);
  });

  it('agrees with @huggingface/tokenizers on all of SST-2 validation and Banking77 test', async () => {
    const tokens = readFileSync(vocabPath, 'utf8').split('\n').slice(0, 30522);
    const d = join(dir, 'bert-base-uncased');
    mkdirSync(d);
    writeFileSync(join(d, 'tokenizer.json'), tokenizerJson(tokens));
    const hf = await loadTokenizer(d, { maxLength: 128 });
    const wp = await loadTokenizer(vocabPath, { maxLength: 128 });
    const texts = [
      ...(await readAllRecords(join(SHARED, 'data/sst2/validation.tsv'))).map((r) => r.text),
      ...(await readAllRecords(join(SHARED, 'data/banking77/test.csv'))).map((r) => r.text),
    ];
    let differ = 0;
    for (const t of texts) if (JSON.stringify(hf.encode(t).ids) !== JSON.stringify(wp.encode(t).ids)) differ++;
    expect(differ).toBe(0);
  });
});
