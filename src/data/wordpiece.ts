import { createHash } from 'node:crypto';
import { UserError } from '../errors.js';
import { TruncationStats, truncateLongestFirst, type Encoding, type Tokenizer } from './tokenizer.js';

/** BERT's normalizer and special tokens: what vocab.txt alone does not say (tokenizer_config.json has them). */
export interface BertNormalizerSettings {
  /** Default true (bert-base-uncased). */
  doLowerCase?: boolean;
  /** Default: follows doLowerCase, as in BERT. */
  stripAccents?: boolean;
  /** Put spaces around CJK ideographs so each is a word. Default true. */
  tokenizeChineseChars?: boolean;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
}

export interface WordPieceOptions extends BertNormalizerSettings {
  maxLength?: number;
  /** Words longer than this many characters become [UNK]. Default 100. */
  maxInputCharsPerWord?: number;
}

// Character classes, computed once per code point and kept in a table (regex tests per char are slow).
const WHITESPACE = 1;
const REMOVE = 2; // NUL, U+FFFD and control/format characters
const CJK = 4;
const PUNCT = 8;
const KNOWN = 16;
const charClasses = new Uint8Array(0x110000);

function charClass(cp: number): number {
  let c = charClasses[cp]!;
  if (c !== 0) return c;
  c = KNOWN;
  const ch = String.fromCodePoint(cp);
  // Line/paragraph separators are not whitespace to BERT's cleaner but Python's split() splits on them.
  if (cp === 0x20 || cp === 0x09 || cp === 0x0a || cp === 0x0d || cp === 0x2028 || cp === 0x2029 || /\p{Zs}/u.test(ch)) c |= WHITESPACE;
  else if (cp === 0 || cp === 0xfffd || /[\p{Cc}\p{Cf}]/u.test(ch)) c |= REMOVE;
  if (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  ) {
    c |= CJK;
  }
  // BERT counts every non-alphanumeric ASCII character as punctuation, "$" and "^" included.
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(ch)) {
    c |= PUNCT;
  }
  charClasses[cp] = c;
  return c;
}

const plainAscii = /^[\x20-\x7e]*$/;
const combiningMark = /\p{Mn}/gu;

/**
 * BERT's tokenizer, written from its definition: BasicTokenizer (clean text, space out CJK
 * ideographs, split on whitespace, lower-case, strip accents (NFD, drop Mn), split off
 * punctuation) then WordPiece (greedy longest match first, `##` continuations, [UNK] for a
 * word with no split or longer than 100 characters).
 */
export class WordPieceTokenizer implements Tokenizer {
  readonly kind = 'wordpiece' as const;
  readonly vocabSize: number;
  readonly padId: number;
  readonly maxLength: number;
  readonly fingerprint: string;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  private readonly vocab: Map<string, number>;
  private readonly lower: boolean;
  private readonly stripAccents: boolean;
  private readonly spaceCjk: boolean;
  private readonly maxWordChars: number;
  /** Special tokens written in the text stay whole (BERT's never_split). */
  private readonly specials: Map<string, number>;
  /** Whitespace-separated word -> ids; words repeat a lot in real text. */
  private readonly wordCache = new Map<string, readonly number[]>();
  private readonly stats: TruncationStats;

  constructor(
    readonly path: string,
    tokens: readonly string[],
    options: WordPieceOptions = {},
  ) {
    this.vocab = new Map();
    tokens.forEach((t, i) => this.vocab.set(t, i));
    this.vocabSize = tokens.length;
    const id = (token: string, what: string): number => {
      const v = this.vocab.get(token);
      if (v === undefined) throw new UserError(`${path}: the vocabulary has no ${what} token "${token}"`);
      return v;
    };
    this.unkId = id(options.unkToken ?? '[UNK]', 'unknown');
    this.clsId = id(options.clsToken ?? '[CLS]', 'classifier');
    this.sepId = id(options.sepToken ?? '[SEP]', 'separator');
    this.padId = id(options.padToken ?? '[PAD]', 'padding');
    this.specials = new Map();
    for (const t of [options.unkToken ?? '[UNK]', options.clsToken ?? '[CLS]', options.sepToken ?? '[SEP]', options.padToken ?? '[PAD]', '[MASK]']) {
      const v = this.vocab.get(t);
      if (v !== undefined) this.specials.set(t, v);
    }
    this.lower = options.doLowerCase ?? true;
    this.stripAccents = options.stripAccents ?? this.lower;
    this.spaceCjk = options.tokenizeChineseChars ?? true;
    this.maxWordChars = options.maxInputCharsPerWord ?? 100;
    this.maxLength = options.maxLength ?? 128;
    if (this.maxLength < 3) throw new UserError(`max length ${this.maxLength} is too short (at least 3 tokens: [CLS] x [SEP])`);
    this.stats = new TruncationStats(this.maxLength);
    this.fingerprint = createHash('sha1')
      .update(tokens.join('\n'))
      .update(JSON.stringify(['wordpiece', this.lower, this.stripAccents, this.spaceCjk, this.maxWordChars, this.maxLength]))
      .digest('hex');
  }

  /** Reads a vocab.txt (one token per line, id = line number - 1). */
  static fromVocabText(path: string, text: string, options: WordPieceOptions = {}): WordPieceTokenizer {
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const tokens = lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    if (tokens.length === 0) throw new UserError(`${path}: empty vocabulary`);
    return new WordPieceTokenizer(path, tokens, options);
  }

  get encodedCount(): number {
    return this.stats.encoded;
  }
  get truncatedCount(): number {
    return this.stats.truncated;
  }
  get truncationWarning(): string | undefined {
    return this.stats.warning;
  }

  encode(text: string, pair?: string): Encoding {
    const a = this.tokenIds(text);
    const b = pair === undefined ? undefined : this.tokenIds(pair);
    const cut = truncateLongestFirst(a, b, this.maxLength - (b ? 3 : 2));
    this.stats.encoded++;
    if (cut) this.stats.truncated++;
    const ids = [this.clsId, ...a, this.sepId];
    const typeIds = new Array<number>(ids.length).fill(0);
    if (b) {
      for (const id of b) ids.push(id);
      ids.push(this.sepId);
      for (let i = 0; i <= b.length; i++) typeIds.push(1);
    }
    return { ids, typeIds };
  }

  /** Word pieces of a text, without special tokens. */
  tokenize(text: string): string[] {
    const names = new Map<number, string>();
    for (const [t, i] of this.vocab) if (!names.has(i)) names.set(i, t);
    return this.tokenIds(text).map((i) => names.get(i)!);
  }

  /** Ids of a text, without special tokens and without truncation. */
  tokenIds(text: string): number[] {
    const out: number[] = [];
    const cleaned = plainAscii.test(text) ? text : this.cleanText(text);
    let start = -1;
    for (let i = 0; i <= cleaned.length; i++) {
      const space = i === cleaned.length || isSpaceUnit(cleaned.charCodeAt(i));
      if (space) {
        if (start >= 0) {
          this.wordIds(cleaned.slice(start, i), out);
          start = -1;
        }
      } else if (start < 0) {
        start = i;
      }
    }
    return out;
  }

  /**
   * BERT's BasicTokenizer output: the normalized words and punctuation marks WordPiece then
   * splits (what a vocabulary is built from, see wordpiece-vocab.ts).
   */
  basicTokens(text: string): string[] {
    const out: string[] = [];
    const cleaned = plainAscii.test(text) ? text : this.cleanText(text);
    for (const word of cleaned.split(/[ \t\n\r]+/)) {
      if (!word) continue;
      if (this.specials.has(word)) out.push(word);
      else for (const piece of splitPunctuation(this.normalizeWord(word))) out.push(piece);
    }
    return out;
  }

  /** Lower-cases and strips accents (NFD, drop combining marks) as configured. */
  private normalizeWord(word: string): string {
    const w = this.lower ? word.toLowerCase() : word;
    return this.stripAccents && !plainAscii.test(w) ? w.normalize('NFD').replace(combiningMark, '') : w;
  }

  /** Drops control characters, turns every whitespace into a space, spaces out CJK ideographs. */
  private cleanText(text: string): string {
    let out = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      const c = charClass(cp);
      if (c & REMOVE) continue;
      if (c & WHITESPACE) out += ' ';
      else if (c & CJK && this.spaceCjk) out += ' ' + ch + ' ';
      else out += ch;
    }
    return out;
  }

  private wordIds(word: string, out: number[]): void {
    const cached = this.wordCache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids: number[] = [];
    const special = this.specials.get(word);
    if (special !== undefined) {
      ids.push(special);
    } else {
      for (const piece of splitPunctuation(this.normalizeWord(word))) this.wordPieces(piece, ids);
    }
    if (this.wordCache.size >= 500_000) this.wordCache.clear();
    this.wordCache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  /** Greedy longest-match-first over one punctuation-free word (or one punctuation mark). */
  private wordPieces(word: string, out: number[]): void {
    // Count and cut by code points, as Python does; most words have no surrogate pairs.
    const chars = /[\ud800-\udfff]/.test(word) ? Array.from(word) : undefined;
    const length = chars ? chars.length : word.length;
    if (length > this.maxWordChars) {
      out.push(this.unkId);
      return;
    }
    const sub = (s: number, e: number) => (chars ? chars.slice(s, e).join('') : word.slice(s, e));
    const pieces: number[] = [];
    let start = 0;
    while (start < length) {
      let end = length;
      let found: number | undefined;
      while (start < end) {
        const piece = start > 0 ? '##' + sub(start, end) : sub(start, end);
        found = this.vocab.get(piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) {
        out.push(this.unkId);
        return;
      }
      pieces.push(found);
      start = end;
    }
    for (const id of pieces) out.push(id);
  }
}

/** Whitespace after cleanText (a space) or, on the ASCII fast path, tab/newline/CR. */
function isSpaceUnit(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/** Splits a word around every punctuation character (each becomes its own piece). */
function splitPunctuation(word: string): string[] {
  const pieces: string[] = [];
  let current = '';
  for (const ch of word) {
    if (charClass(ch.codePointAt(0)!) & PUNCT) {
      if (current) pieces.push(current);
      pieces.push(ch);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) pieces.push(current);
  return pieces;
}
