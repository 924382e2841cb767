import { describe, expect, it } from 'vitest';
import { emailToText, loadSpamAssassin } from '../src/demo/spam-assassin.js';

describe('SpamAssassin e-mail to text', () => {
  it('keeps the subject and body, drops headers', () => {
    const raw = 'From: a@b.c\nSubject: Hello there\nX-Spam: no\n\nFirst line\nsecond   line\n';
    expect(emailToText(raw)).toBe('Hello there\nFirst line\nsecond line');
  });

  it('decodes quoted-printable and strips HTML', () => {
    const raw =
      'Subject: =?iso-8859-1?q?Caf=E9_deals?=\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n' +
      '<html><body><p>Cheap =\nmeds &amp; more</p><script>x()</script><br>NOW</body></html>\n';
    expect(emailToText(raw)).toBe('Café deals\nCheap meds & more\nNOW');
  });

  it('prefers the text/plain part of a multipart message and decodes base64', () => {
    const body = Buffer.from('Plain words here').toString('base64');
    const raw =
      'Subject: multi\nContent-Type: multipart/alternative; boundary="XYZ"\n\n' +
      '--XYZ\nContent-Type: text/html\n\n<p>html words</p>\n' +
      `--XYZ\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n${body}\n` +
      '--XYZ--\n';
    expect(emailToText(raw)).toBe('multi\nPlain words here');
  });

  it('loads all 6,046 messages with ham/spam labels', () => {
    const records = loadSpamAssassin();
    expect(records.length).toBe(6046);
    expect(records.filter((r) => r.label === 'spam').length).toBe(1896);
    expect(records.every((r) => r.text.length <= 1200)).toBe(true);
  });
});
