import { describe, expect, it } from 'vitest';
import { buildWordPieceVocab, specialTokens } from '../src/data/wordpiece-vocab.js';
import { WordPieceTokenizer } from '../src/data/wordpiece.js';

const texts = [
  'Free money!!! Click here to claim your prize now.',
  'Meeting moved to Thursday; see the agenda attached.',
  'Claiming prizes: winners are notified by e-mail.',
  'The meeting notes are attached, thanks for attending.',
  'Click HERE for cheap meds, best prices',
  'Thanks, see you Thursday at the meeting',
];

describe('WordPiece vocabulary builder', () => {
  const vocab = buildWordPieceVocab(texts, { size: 400, minFrequency: 2 });

  it('starts with the special tokens and respects the size', () => {
    expect(vocab.slice(0, specialTokens.length)).toEqual([...specialTokens]);
    expect(vocab.length).toBeLessThanOrEqual(400);
    expect(new Set(vocab).size).toBe(vocab.length);
  });

  it('keeps frequent words whole and spells the rest with pieces, without [UNK]', () => {
    const tok = new WordPieceTokenizer('vocab', vocab);
    expect(tok.tokenize('meeting')).toEqual(['meeting']);
    expect(tok.tokenize('click')).toEqual(['click']);
    const rare = tok.tokenize('attending');
    expect(rare.length).toBeGreaterThan(1);
    expect(rare.join('').replace(/##/g, '')).toBe('attending');
    for (const t of texts) expect(tok.tokenize(t)).not.toContain('[UNK]');
  });

  it('is deterministic', () => {
    expect(buildWordPieceVocab(texts, { size: 400 })).toEqual(vocab);
  });

  it('lower-cases like BERT uncased', () => {
    expect(vocab).not.toContain('HERE');
    expect(new WordPieceTokenizer('vocab', vocab).basicTokens('HERE, now!')).toEqual(['here', ',', 'now', '!']);
  });
});
