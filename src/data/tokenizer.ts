/** Token ids of one example, with the special tokens, truncated to the tokenizer's maxLength. */
export interface Encoding {
  ids: number[];
  /** Segment ids (0 for the first text, 1 for the pair), what BERT calls token_type_ids. */
  typeIds: number[];
}

export interface Tokenizer {
  readonly kind: 'wordpiece' | 'tokenizer.json';
  /** The vocab.txt or tokenizer.json file. */
  readonly path: string;
  /** Rows of the embedding table the ids index: highest id + 1. */
  readonly vocabSize: number;
  readonly padId: number;
  /** Longest encoding returned, special tokens included. */
  readonly maxLength: number;
  /** Equal fingerprints encode every text the same (same vocabulary, settings and maxLength). */
  readonly fingerprint: string;
  encode(text: string, pair?: string): Encoding;
  /** Encodings returned so far, and how many of them were cut to maxLength. */
  readonly encodedCount: number;
  readonly truncatedCount: number;
  /** One line for the user when something was truncated, else undefined. */
  readonly truncationWarning: string | undefined;
}

/** Counts encodings and truncations; shared by both tokenizer kinds. */
export class TruncationStats {
  encoded = 0;
  truncated = 0;

  constructor(private readonly maxLength: number) {}

  get warning(): string | undefined {
    if (this.truncated === 0) return undefined;
    return `${this.truncated} of ${this.encoded} examples were longer than ${this.maxLength} tokens and were truncated`;
  }
}

/**
 * Cuts two token lists in place so that together they fit `budget`, one token at a time from
 * the longer one (the pair on ties), like BERT's `longest_first`. Returns true when anything was cut.
 */
export function truncateLongestFirst<T>(a: T[], b: T[] | undefined, budget: number): boolean {
  const room = Math.max(0, budget);
  if (!b) {
    if (a.length <= room) return false;
    a.length = room;
    return true;
  }
  if (a.length + b.length <= room) return false;
  while (a.length + b.length > room) {
    if (a.length > b.length) a.pop();
    else b.pop();
  }
  return true;
}
