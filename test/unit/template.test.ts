import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { formatDiagnostic } from '../../src/errors.js';
import type { Location } from '../../src/source/location.js';
import { describeUses, hasTemplate, parseTemplate, TemplateRenderer } from '../../src/config/template.js';
import type { Vars } from '../../src/inventory/types.js';

const at = (line: number, col: number): Location => ({ file: 'site.yml', line, col });
const USE = at(14, 18);

/** vars defined on consecutive lines of site.yml, starting at line 6, value column 10 */
function vars(values: Record<string, unknown>): Vars {
  return new Map(Object.entries(values).map(([name, value], i) => [name, { value, source: at(6 + i, 10) }]));
}

function render(text: string, values: Record<string, unknown>) {
  const r = new TemplateRenderer(vars(values)).renderString(text, USE);
  return r.ok ? { value: r.value } : { errors: r.diagnostics.map(formatDiagnostic) };
}

describe('substitution', () => {
  test('a string that is exactly one {{ var }} keeps the value and its type', () => {
    expect(render('{{ n }}', { n: 3 })).toEqual({ value: 3 });
    expect(render('{{n}}', { n: true })).toEqual({ value: true });
    expect(render('{{ list }}', { list: ['a', 1] })).toEqual({ value: ['a', 1] });
    expect(render('{{ map }}', { map: { k: 'v' } })).toEqual({ value: { k: 'v' } });
  });

  test('anything else is string interpolation', () => {
    expect(render('{{ vip }}/32', { vip: '192.168.0.181' })).toEqual({ value: '192.168.0.181/32' });
    expect(render(' {{ n }}', { n: 3 })).toEqual({ value: ' 3' });
    expect(render('{{ a }}{{ b }}', { a: 'x', b: 2 })).toEqual({ value: 'x2' });
    expect(render('no templates', {})).toEqual({ value: 'no templates' });
  });

  test('only strings and numbers can be interpolated', () => {
    expect(render('echo {{ on }}', { on: true })).toEqual({
      errors: [
        'site.yml:14:18: variable "on" is a boolean (true); only a string or a number can be part of a longer string (use "{{ on }}" alone to pass the value itself)',
      ],
    });
    expect(render('x{{ e }}', { e: null })).toEqual({
      errors: [
        'site.yml:14:18: variable "e" is empty; only a string or a number can be part of a longer string (use "{{ e }}" alone to pass the value itself)',
      ],
    });
  });

  test('an undefined variable is an error at the place it is used, with a suggestion when one is close', () => {
    expect(render('{{ vipp }}/32', { vip: '10.0.0.1' })).toEqual({ errors: ['site.yml:14:18: undefined variable "vipp" (did you mean "vip"?)'] });
    expect(render('{{ other }}', { vip: '10.0.0.1' })).toEqual({ errors: ['site.yml:14:18: undefined variable "other"'] });
    expect(render('{{ a }} {{ b }}', {})).toEqual({ errors: ['site.yml:14:18: undefined variable "a"', 'site.yml:14:18: undefined variable "b"'] });
  });

  test('variables are resolved recursively, keeping types through a chain', () => {
    const values = { prefix: 32, net: '192.168.0', vip: '{{ net }}.181', cidr: '{{ vip }}/{{ prefix }}', port: '{{ base_port }}', base_port: 8080 };
    expect(render('{{ cidr }}', values)).toEqual({ value: '192.168.0.181/32' });
    expect(render('{{ port }}', values)).toEqual({ value: 8080 });
    expect(render('{{ l }}', { l: ['{{ net }}', { x: '{{ prefix }}' }], net: 'n', prefix: 1 })).toEqual({ value: ['n', { x: 1 }] });
  });

  test('an error inside a variable is reported where that variable is defined', () => {
    expect(render('{{ vip }}/32', { net: '192.168.0', vip: '{{ nett }}.181' })).toEqual({
      errors: ['site.yml:7:10: undefined variable "nett" (did you mean "net"?)'],
    });
  });

  test('loops are detected, not followed', () => {
    expect(render('{{ a }}', { a: '{{ a }}' })).toEqual({ errors: ['site.yml:6:10: variable "a" refers to itself'] });
    expect(render('{{ a }}', { a: '{{ b }}', b: 'x{{ a }}' })).toEqual({ errors: ['site.yml:6:10: variables refer to each other in a loop: a -> b -> a'] });
    expect(render('{{ c }}', { a: '{{ b }}', b: '{{ c }}', c: ['{{ a }}'] })).toEqual({
      errors: ['site.yml:8:10: variables refer to each other in a loop: c -> a -> b -> c'],
    });
  });

  test('a variable used twice is resolved once, and its error reported once per use', () => {
    const renderer = new TemplateRenderer(vars({ v: '{{ missing }}' }));
    const r = renderer.renderValue({ a: '{{ v }}', b: 'x{{ v }}' }, () => USE);
    expect('diagnostics' in r && r.diagnostics.map(formatDiagnostic)).toEqual([
      'site.yml:6:10: undefined variable "missing"',
      'site.yml:6:10: undefined variable "missing"',
    ]);
  });

  test('renderValue records which variables each value came from, by JSON pointer', () => {
    const renderer = new TemplateRenderer(vars({ vip: '10.0.0.1', dev: 'lo' }));
    const r = renderer.renderValue({ address: '{{ vip }}/32', 'a/b': ['{{ dev }}', 'eth0'], n: 1 }, () => USE);
    if ('diagnostics' in r) throw new Error(r.diagnostics.map(formatDiagnostic).join('\n'));
    expect(r.value).toEqual({ address: '10.0.0.1/32', 'a/b': ['lo', 'eth0'], n: 1 });
    expect([...r.uses.keys()]).toEqual(['/address', '/a~1b/0']);
    expect(describeUses(r.uses.get('/address'))).toBe('(from var "vip", site.yml:6:10)');
  });
});

describe('unsupported syntax is an error, never a guess', () => {
  test.each([
    ['{{ vip | ipaddr }}', 'unsupported template "{{ vip | ipaddr }}": vipush substitutes only {{ name }} and {{ name.key }}, with no filters or expressions'],
    ['{{ host["vip"] }}', 'unsupported template "{{ host["vip"] }}": vipush substitutes only {{ name }} and {{ name.key }}, with no filters or expressions'],
    ['{{ a + b }}', 'unsupported template "{{ a + b }}": vipush substitutes only {{ name }} and {{ name.key }}, with no filters or expressions'],
    ['{{- vip }}', 'unsupported template "{{- vip }}": vipush substitutes only {{ name }} and {{ name.key }}, with no filters or expressions'],
    ['{{ vip', 'unclosed "{{" in "{{ vip"'],
    [
      '{% if x %}y{% endif %}',
      'Jinja statements ("{% … %}") are not supported: vipush substitutes only {{ name }}; to write "{%" literally, wrap it in {% raw %}…{% endraw %}',
    ],
    [
      'echo ${#list}',
      'Jinja comments ("{# … #}") are not supported: vipush substitutes only {{ name }}; to write "{#" literally, wrap it in {% raw %}…{% endraw %}',
    ],
    ['{% raw %}{{ x }}', '"{% raw %}" without "{% endraw %}" in "{% raw %}{{ x }}"'],
  ])('%s', (text, message) => {
    expect(render(text, { vip: '1', a: 1, b: 2 })).toEqual({ errors: [`site.yml:14:18: ${message}`] });
  });

  test('{% raw %} keeps text literal, as in Jinja', () => {
    expect(render("docker inspect --format '{% raw %}{{.Id}}{% endraw %}' {{ name }}", { name: 'web' })).toEqual({
      value: "docker inspect --format '{{.Id}}' web",
    });
    expect(parseTemplate('a{%raw%}{#{%endraw%}b')).toEqual({ parts: [{ text: 'a{#b' }] });
  });

  test('text without template markers renders to itself', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/\{[{%#]/.test(s)),
        (s) => {
          expect(hasTemplate(s)).toBe(false);
          expect(render(s, {})).toEqual({ value: s });
        },
      ),
    );
  });

  test('hasTemplate looks inside lists and maps', () => {
    expect(hasTemplate({ a: [1, { b: 'x{{ y }}' }] })).toBe(true);
    expect(hasTemplate({ a: [1, { b: 'x{ y }' }] })).toBe(false);
  });
});
