import { UserInputError, type Diagnostic } from '../errors.js';
import type { Vars } from '../inventory/types.js';
import { sortDiagnostics } from '../source/diagnostics.js';
import type { Location } from '../source/location.js';
import { pointerSegments } from '../source/pointer.js';
import {
  isAlias,
  isMap,
  keyText,
  locate,
  locatePath,
  nodeAtPath,
  parseYamlText,
  readYamlFile,
  resolveAlias,
  toPlain,
  valueLocations,
  type YamlFile,
} from '../source/yaml.js';
import { resolveGate, resolveTask } from './resolve.js';
import { schemaProblems } from './schema-check.js';
import { GATE_KINDS, type GateKind } from './schema/gates.js';
import { hasTemplate } from './template.js';
import { parseWhen, type WhenCondition } from './when.js';
import { MODULE_NAMES, takesChangedWhen, type ModuleName } from '../modules/registry.js';
import type { GateSpec, Play, Playbook, SerialStep, TaskLoop, TaskSpec } from './types.js';

/** Task keys that are not a module: Ansible's task keywords vipush supports. */
const TASK_KEYWORDS = ['name', 'changed_when', 'loop', 'loop_control', 'when'];

/**
 * Loads a playbook: a YAML list of plays, Ansible style. Every problem in the
 * file is collected and thrown as one UserInputError, one line each, in file
 * order. Values that hold `{{ templates }}` are checked per host later, by
 * resolvePlayForHost(); everything else is checked here, so a literal mistake
 * is reported once, before any host is contacted.
 */
export async function loadPlaybook(path: string): Promise<Playbook> {
  return playbookFromYaml(await readYamlFile(path));
}

/** loadPlaybook() for text already in memory; `file` is used in messages. */
export function parsePlaybook(text: string, file: string): Playbook {
  return playbookFromYaml(parseYamlText(text, file));
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function code(names: readonly string[], joiner: string): string {
  const quoted = names.map((n) => `\`${n}\``);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} ${joiner} ${quoted[quoted.length - 1]}`;
}

/** Module args and gate args may be templates until substituted; play keys may not. */
function isUnsubstitutedTemplate(data: unknown, pointer: string): boolean {
  const segments = pointerSegments(pointer);
  if (segments.length < 4 || (segments[1] !== 'tasks' && segments[1] !== 'verify')) return false;
  let current: unknown = data;
  for (const [depth, segment] of segments.entries()) {
    current = Array.isArray(current) ? current[Number(segment)] : isObj(current) ? current[segment] : undefined;
    if (depth >= 3 && typeof current === 'string' && hasTemplate(current)) return true;
  }
  return false;
}

function playbookFromYaml(y: YamlFile): Playbook {
  const root = y.doc.contents;
  if (root === null || root === undefined) {
    throw new UserInputError([{ loc: { file: y.file, line: 1, col: 1 }, message: 'the playbook is empty; write a list of plays' }]);
  }
  const data = toPlain(y, root);
  const at = (...segments: (string | number)[]): Location => locatePath(y, root, segments.map(String));
  const keyAt = (key: string, ...segments: (string | number)[]): Location => locatePath(y, root, segments.map(String), key);

  const problems = schemaProblems('playbook', data, {
    rootName: 'the playbook',
    rootItemName: 'play',
    locate: (pointer, key) => locatePath(y, root, pointerSegments(pointer), key),
    ignore: (pointer) => isUnsubstitutedTemplate(data, pointer),
  });
  const diagnostics: Diagnostic[] = problems.map((p) => p.diagnostic);
  /** true if the schema found nothing wrong at or below `segments` */
  const schemaClean = (...segments: (string | number)[]): boolean => {
    const prefix = `/${segments.join('/')}`;
    return !problems.some((p) => p.pointer === prefix || p.pointer.startsWith(`${prefix}/`));
  };

  const plays: Play[] = [];
  if (Array.isArray(data)) {
    data.forEach((playData, i) => {
      if (!isObj(playData)) return;
      const play = readPlay(playData, i);
      if (play) plays.push(play);
    });
  }
  if (diagnostics.length > 0) throw new UserInputError(sortDiagnostics(diagnostics));
  return { file: y.file, plays };

  function readPlay(p: Obj, i: number): Play | undefined {
    const before = diagnostics.length;
    const serial = readSerial(p.serial, i);
    if (typeof p.hosts === 'string' && hasTemplate(p.hosts)) {
      diagnostics.push({ loc: at(i, 'hosts'), message: '`hosts` cannot use templates: vipush substitutes variables only in vars, tasks and verify' });
    }
    const vars: Vars = new Map();
    if (isObj(p.vars)) {
      // One pass over the vars node: a lookup per variable would be quadratic in a play with many vars.
      const varsAt = at(i, 'vars');
      const node = nodeAtPath(y, root, [String(i), 'vars']);
      const varsNode = isAlias(node) ? resolveAlias(y, node) : node;
      const where = new Map<string, Location>();
      if (isMap(varsNode)) {
        for (const pair of varsNode.items) if (!where.has(keyText(pair.key))) where.set(keyText(pair.key), locate(y, pair.value ?? pair.key));
      }
      // a key merged in with `<<` has no entry of its own: point at the vars
      for (const [name, value] of Object.entries(p.vars)) vars.set(name, { value, source: where.get(name) ?? varsAt });
    }
    const tasks = Array.isArray(p.tasks) ? p.tasks.map((t, j) => readTask(t, i, j)) : [];
    const verify = Array.isArray(p.verify) ? p.verify.map((g, j) => readGate(g, i, j)) : [];
    if (diagnostics.length > before || !schemaClean(i)) return undefined;
    return {
      name: typeof p.name === 'string' ? p.name : String(p.hosts),
      hosts: p.hosts as string,
      vars,
      serial,
      maxFailPercentage: (p.max_fail_percentage as number | undefined) ?? 0,
      anyErrorsFatal: (p.any_errors_fatal as boolean | undefined) ?? false,
      confirmTimeout: (p.confirm_timeout as number | undefined) ?? 60,
      become: (p.become as boolean | undefined) ?? false,
      tasks: tasks.filter((t): t is TaskSpec => t !== undefined),
      verify: verify.filter((g): g is GateSpec => g !== undefined),
      source: at(i),
    };
  }

  function readSerial(value: unknown, i: number): SerialStep[] {
    if (value === undefined) return [];
    const steps: SerialStep[] = [];
    const list = Array.isArray(value) ? value : [value];
    list.forEach((step, k) => {
      const loc = Array.isArray(value) ? at(i, 'serial', k) : at(i, 'serial');
      if (typeof step === 'number') steps.push({ count: step });
      const percent = typeof step === 'string' ? /^([0-9]+)%$/.exec(step) : null;
      if (!percent) return;
      const n = Number(percent[1]);
      if (n < 1 || n > 100) diagnostics.push({ loc, message: `serial "${step}" is out of range: a percentage must be from 1% to 100%` });
      steps.push({ percent: n });
    });
    return steps;
  }

  /** Exactly one of `choices` among the keys of `item`; reports otherwise. */
  function chosenKey<K extends string>(item: Obj, choices: readonly K[], noun: string, where: (string | number)[]): K | undefined {
    const present = choices.filter((k) => Object.hasOwn(item, k));
    if (present.length === 1) return present[0];
    const holder = where[1] === 'tasks' ? 'task' : 'gate';
    if (present.length > 1) {
      diagnostics.push({
        loc: keyAt(present[1], ...where),
        message: `${holder} has ${present.length} ${noun}s, ${code(present, 'and')}; write one ${noun} per ${holder}`,
      });
    } else if (Object.keys(item).every((k) => TASK_KEYWORDS.includes(k))) {
      // With an unknown key, the schema already says "unknown module `adress`"; this is the case with no key at all.
      diagnostics.push({ loc: at(...where), message: `${holder} has no ${noun}; add one of ${code(choices, 'or')}` });
    }
    return undefined;
  }

  function readTask(t: unknown, i: number, j: number): TaskSpec | undefined {
    if (!isObj(t)) return undefined;
    const module = chosenKey<ModuleName>(t, MODULE_NAMES, 'module', [i, 'tasks', j]);
    if (module && !takesChangedWhen(module) && t.changed_when !== undefined) {
      diagnostics.push({
        loc: keyAt('changed_when', i, 'tasks', j),
        message: `\`changed_when\` applies only to ${code(MODULE_NAMES.filter(takesChangedWhen), 'and')} tasks; \`${module}\` reports a change only when it makes one`,
      });
      return undefined;
    }
    if (!module || !schemaClean(i, 'tasks', j)) return undefined;
    const loop = readLoop(t, i, j);
    const when = readWhen(t.when, i, j);
    if (loop === null || when === null) return undefined;
    const argsNode = nodeAtPath(y, root, [String(i), 'tasks', String(j), module]);
    const spec: TaskSpec = {
      name: t.name as string,
      module,
      args: t[module],
      source: at(i, 'tasks', j),
      argSources: valueLocations(y, argsNode, keyAt(module, i, 'tasks', j)),
      ...(typeof t.changed_when === 'boolean' ? { changedWhen: t.changed_when } : {}),
      ...(loop ? { loop } : {}),
      ...(when ? { when } : {}),
    };
    if (!hasTemplate(spec.args) && !hasTemplate(spec.name)) {
      const r = resolveTask(spec, new Map());
      if ('diagnostics' in r) diagnostics.push(...r.diagnostics);
    }
    return spec;
  }

  /** `loop` and `loop_control`; null after a problem (reported) */
  function readLoop(t: Obj, i: number, j: number): TaskLoop | undefined | null {
    const control = isObj(t.loop_control) ? t.loop_control : undefined;
    if (t.loop === undefined) {
      if (control === undefined) return undefined;
      diagnostics.push({ loc: keyAt('loop_control', i, 'tasks', j), message: '`loop_control` without `loop`: add `loop`, or remove `loop_control`' });
      return null;
    }
    const source = at(i, 'tasks', j, 'loop');
    if (typeof t.loop === 'string' && !/^\s*\{\{[^{}]*\}\}\s*$/.test(t.loop)) {
      diagnostics.push({ loc: source, message: `\`loop\` must be a list, or "{{ var }}" naming one, got ${JSON.stringify(t.loop)}` });
      return null;
    }
    const loopVar = typeof control?.loop_var === 'string' ? control.loop_var : 'item';
    const indexVar = typeof control?.index_var === 'string' ? control.index_var : undefined;
    if (indexVar === loopVar) {
      diagnostics.push({
        loc: at(i, 'tasks', j, 'loop_control', 'index_var'),
        message: `\`index_var\` and \`loop_var\` are both "${loopVar}": name them apart`,
      });
      return null;
    }
    return {
      value: t.loop,
      source,
      sources: valueLocations(y, nodeAtPath(y, root, [String(i), 'tasks', String(j), 'loop']), keyAt('loop', i, 'tasks', j)),
      loopVar,
      ...(indexVar ? { indexVar } : {}),
      ...(typeof control?.label === 'string' ? { label: { text: control.label, source: at(i, 'tasks', j, 'loop_control', 'label') } } : {}),
    };
  }

  /** `when`, each condition parsed; null after a problem (reported) */
  function readWhen(value: unknown, i: number, j: number): WhenCondition[] | undefined | null {
    if (value === undefined) return undefined;
    const list = Array.isArray(value) ? value : [value];
    const out: WhenCondition[] = [];
    let bad = false;
    list.forEach((c, k) => {
      const source = Array.isArray(value) ? at(i, 'tasks', j, 'when', k) : at(i, 'tasks', j, 'when');
      if (typeof c === 'boolean') {
        out.push({ text: String(c), expr: { kind: 'literal', value: c }, source });
        return;
      }
      const parsed = parseWhen(String(c));
      if ('error' in parsed) {
        diagnostics.push({ loc: source, message: parsed.error });
        bad = true;
      } else out.push({ text: String(c), expr: parsed.expr, source });
    });
    return bad ? null : out;
  }

  function readGate(g: unknown, i: number, j: number): GateSpec | undefined {
    if (!isObj(g)) return undefined;
    const kind = chosenKey<GateKind>(g, GATE_KINDS, 'gate', [i, 'verify', j]);
    if (!kind || !schemaClean(i, 'verify', j)) return undefined;
    const args = g[kind] as Obj;
    const common = {
      from: args.from as string,
      source: at(i, 'verify', j),
      argSources: valueLocations(y, nodeAtPath(y, root, [String(i), 'verify', String(j), kind]), keyAt(kind, i, 'verify', j)),
    };
    let spec: GateSpec;
    switch (kind) {
      case 'arp_owner':
        spec = { ...common, kind, vip: args.vip as string, expect: args.expect as string };
        break;
      case 'http':
        // may still be a "{{ template }}" here; resolveGate() checks the substituted number
        spec = { ...common, kind, url: args.url as string, expectStatus: (args.expect_status as number | undefined) ?? 200 };
        break;
      case 'command':
        spec = {
          ...common,
          kind,
          ...(args.argv !== undefined ? { argv: args.argv as string[] } : {}),
          ...(args.shell !== undefined ? { script: args.shell as string } : {}),
        };
        break;
    }
    if (!hasTemplate(args)) {
      const r = resolveGate(spec, new Map());
      if ('diagnostics' in r) diagnostics.push(...r.diagnostics);
    }
    return spec;
  }
}
