import { parseDocument, LineCounter } from 'yaml';
for (const n of [10000, 20000, 40000, 80000]) {
  let s = 'all:\n  hosts:\n'; for (let i = 0; i < n; i++) s += `    k${i}: v${i}\n`;
  for (const uk of [false, true]) {
    const t = Date.now();
    const doc = parseDocument(s, { version: '1.1', lineCounter: new LineCounter(), uniqueKeys: uk, strict: true, prettyErrors: false });
    console.log(n, s.length, 'uniq', uk, Date.now() - t, doc.errors.length);
  }
}
