import type { BertNormalizerSettings } from './wordpiece.js';

/** What a BERT WordPiece tokenizer needs beyond its vocab.txt (tokenizer_config.json's fields). */
export interface BertTokenizerSettings extends BertNormalizerSettings {
  maskToken?: string;
  modelMaxLength?: number;
}

/** vocab.txt lines as tokens (id = line number - 1), as WordPieceTokenizer.fromVocabText reads them. */
export function vocabTokens(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/**
 * The Hugging Face `tokenizer.json` a BertTokenizerFast saves for this vocabulary and settings:
 * BertNormalizer, BertPreTokenizer, WordPiece with "##" continuations and 100-character words,
 * [CLS] A [SEP] (B [SEP]) with type ids 0/1. transformers.js and @huggingface/tokenizers read
 * only this file (not vocab.txt), so a vocab.txt-only model gets one written beside it.
 */
export function bertTokenizerJson(tokens: readonly string[], s: BertTokenizerSettings = {}): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i; // a duplicate line keeps its first id, as the WordPiece reader does
  });
  const unk = s.unkToken ?? '[UNK]';
  const cls = s.clsToken ?? '[CLS]';
  const sep = s.sepToken ?? '[SEP]';
  const specials = [s.padToken ?? '[PAD]', unk, cls, sep, s.maskToken ?? '[MASK]'].filter((t) => t in vocab);
  const lower = s.doLowerCase ?? true;
  const special = (t: string) => ({ id: t, ids: [vocab[t]!], tokens: [t] });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...new Set(specials)]
      .sort((a, b) => vocab[a]! - vocab[b]!)
      .map((t) => ({ id: vocab[t]!, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: s.tokenizeChineseChars ?? true,
      strip_accents: s.stripAccents ?? null,
      lowercase: lower,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: cls, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } }],
      pair: [
        { SpecialToken: { id: cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: sep, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: sep, type_id: 1 } },
      ],
      special_tokens: Object.fromEntries([cls, sep].filter((t) => t in vocab).map((t) => [t, special(t)])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: unk, continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/** tokenizer_config.json for the same tokenizer (what transformers.js reads next to tokenizer.json). */
export function bertTokenizerConfig(s: BertTokenizerSettings = {}): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: s.doLowerCase ?? true,
    ...(s.stripAccents !== undefined ? { strip_accents: s.stripAccents } : {}),
    tokenize_chinese_chars: s.tokenizeChineseChars ?? true,
    unk_token: s.unkToken ?? '[UNK]',
    cls_token: s.clsToken ?? '[CLS]',
    sep_token: s.sepToken ?? '[SEP]',
    pad_token: s.padToken ?? '[PAD]',
    mask_token: s.maskToken ?? '[MASK]',
    model_max_length: s.modelMaxLength ?? 512,
    clean_up_tokenization_spaces: true,
  };
}
