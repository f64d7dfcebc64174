import { parseDocument, LineCounter, Parser, Lexer } from 'yaml';
const cpu = (f) => { const c = process.cpuUsage(); const r = f(); const d = process.cpuUsage(c); return [Math.round((d.user + d.system) / 1000), r]; };
for (const n of [10000, 20000, 40000, 80000, 300000]) {
  let s = 'all:\n  hosts:\n'; for (let i = 0; i < n; i++) s += `    k${i}: v${i}\n`;
  console.log(n, s.length, 'lex', cpu(() => { let k = 0; for (const _ of new Lexer().lex(s)) k++; return k; })[0], 'parse', cpu(() => { let k = 0; for (const _ of new Parser().parse(s)) k++; return k; })[0]);
  for (const uk of [false, true]) {
    if (uk && n > 40000) continue;
    const [ms, doc] = cpu(() => parseDocument(s, { version: '1.1', lineCounter: new LineCounter(), uniqueKeys: uk, strict: true, prettyErrors: false }));
    console.log(n, 'uniq', uk, ms, doc.errors.length);
  }
}
