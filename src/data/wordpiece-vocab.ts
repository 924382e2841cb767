import { WordPieceTokenizer } from './wordpiece.js';

export const specialTokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

export interface VocabOptions {
  /** Total tokens, specials included. */
  size: number;
  /** Words seen fewer times are not added whole (they are spelled with pieces). Default 2. */
  minFrequency?: number;
  doLowerCase?: boolean;
}

/**
 * Builds a BERT WordPiece vocabulary (vocab.txt lines) from training texts, by frequency:
 * the special tokens, the characters seen (as a word start and as a `##` continuation, so any
 * word can be spelled), then the most frequent whole words, then the
 * most frequent word-final pieces (`##ing`, `##ed`, ...) of the words left out, weighted by how
 * often those words occur. Simpler than WordPiece's likelihood training, deterministic, and
 * the greedy longest-match tokenizer uses it as it uses Google's vocabularies.
 */
export function buildWordPieceVocab(texts: Iterable<string>, opts: VocabOptions): string[] {
  const basic = new WordPieceTokenizer('<vocab builder>', [...specialTokens], { doLowerCase: opts.doLowerCase ?? true });
  const wordCounts = new Map<string, number>();
  for (const text of texts) for (const w of basic.basicTokens(text)) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  const byCount = (a: [string, number], b: [string, number]) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

  const vocab: string[] = [...specialTokens];
  const seen = new Set<string>(vocab);
  const add = (t: string) => {
    if (vocab.length >= opts.size || seen.has(t)) return;
    seen.add(t);
    vocab.push(t);
  };

  const charCounts = new Map<string, number>();
  for (const [w, n] of wordCounts) for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + n);
  // Characters are cheap and make every word spellable; the rarest go first when they would
  // take more than a fifth of the vocabulary (each is added twice: word start and ## continuation).
  const chars = [...charCounts].sort(byCount).map(([c]) => c).slice(0, Math.max(1, Math.floor(opts.size / 10)));
  for (const c of chars) add(c);
  for (const c of chars) add('##' + c);

  const minFrequency = opts.minFrequency ?? 2;
  const words = [...wordCounts].filter(([w, n]) => n >= minFrequency && [...w].length > 1).sort(byCount);
  const wordBudget = Math.floor((opts.size - vocab.length) * 0.8);
  const kept = new Set<string>();
  for (const [w] of words) {
    if (kept.size >= wordBudget) break;
    kept.add(w);
    add(w);
  }

  const suffixCounts = new Map<string, number>();
  for (const [w, n] of wordCounts) {
    if (kept.has(w)) continue;
    const cps = [...w];
    for (let len = 2; len <= Math.min(6, cps.length - 1); len++) {
      const piece = '##' + cps.slice(cps.length - len).join('');
      suffixCounts.set(piece, (suffixCounts.get(piece) ?? 0) + n);
    }
  }
  for (const [piece] of [...suffixCounts].sort(byCount)) {
    if (vocab.length >= opts.size) break;
    add(piece);
  }
  // Fill what is left with less frequent whole words.
  for (const [w] of words) {
    if (vocab.length >= opts.size) break;
    add(w);
  }
  return vocab;
}
