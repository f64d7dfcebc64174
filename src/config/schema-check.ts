import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from '../errors.js';
import type { Location } from '../source/location.js';
import { pointerSegments } from '../source/pointer.js';
import type { SchemaName } from './schema/all.js';
import { compileSchema } from './schema/compile.js';
import type { ChoiceAnnotation } from './schema/keywords.js';
import { PRECOMPILED } from './schema/precompiled.js';
import { suggest } from './suggest.js';
import { jsonType, showValue } from '../source/show-value.js';

export type { SchemaName } from './schema/all.js';
export { showValue } from '../source/show-value.js';

/** What the explainer needs to know about the data it checks. */
export interface SchemaSubject {
  /** how to name the value at pointer "" ("the playbook", "`address`") */
  rootName: string;
  /** how to name an item of the root list ("play" gives "play 2") */
  rootItemName?: string;
  /** where the value at `pointer` is written; with `key`, where that key of the map at `pointer` is */
  locate(pointer: string, key?: string): Location;
  /** appended to messages about the value at `pointer`, e.g. `(from var "vip", site.yml:6:10)` */
  note?(pointer: string): string | undefined;
  /** errors about this value are not reported (a `{{ template }}` not yet substituted) */
  ignore?(pointer: string): boolean;
}

const compiled = new Map<SchemaName, ValidateFunction>();

/** Compiled on first use: a playbook that uses two modules and no gate compiles three schemas, not seven (start-up time). */
function validator(name: SchemaName): ValidateFunction {
  let v = PRECOMPILED?.[name] ?? compiled.get(name);
  if (!v) {
    v = compileSchema(name);
    compiled.set(name, v);
  }
  return v;
}

/** A problem found by a schema, with the JSON pointer of the value it is about. */
export interface SchemaProblem {
  pointer: string;
  diagnostic: Diagnostic;
}

/** Validates `data` against a vipush schema and explains every problem, one each. */
export function schemaProblems(name: SchemaName, data: unknown, subject: SchemaSubject): SchemaProblem[] {
  const validate = validator(name);
  if (validate(data)) return [];
  return explainErrors(validate.errors ?? [], subject);
}

export function checkSchema(name: SchemaName, data: unknown, subject: SchemaSubject): Diagnostic[] {
  return schemaProblems(name, data, subject).map((p) => p.diagnostic);
}

type SchemaObject = Record<string, unknown>;

function typeAccepts(type: unknown, data: unknown): boolean {
  const types = Array.isArray(type) ? type : [type];
  const actual = jsonType(data);
  return types.some((t) => t === actual || (t === 'number' && actual === 'integer'));
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map',
  null: 'empty',
};

function typeWords(type: unknown): string {
  const types = (Array.isArray(type) ? type : [type]).map((t) => TYPE_WORDS[String(t)] ?? String(t));
  return types.length <= 1 ? types.join('') : `${types.slice(0, -1).join(', ')} or ${types[types.length - 1]}`;
}

function code(names: readonly string[], joiner = 'or'): string {
  const quoted = names.map((n) => `\`${n}\``);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} ${joiner} ${quoted[quoted.length - 1]}`;
}

/**
 * With allErrors, ajv reports every branch of an anyOf. Only one branch can
 * be what the user meant: the one whose type matches the value. Keep that
 * branch's errors; when no single branch matches, keep one sentence for the
 * whole anyOf.
 */
function narrowAlternatives(errors: ErrorObject[]): ErrorObject[] {
  const dropped = new Set<ErrorObject>();
  const alternatives = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const alt of alternatives) {
    if (dropped.has(alt)) continue;
    const branches = (alt.schema as SchemaObject[]) ?? [];
    const inside = errors.filter((e) => e !== alt && e.schemaPath.startsWith(`${alt.schemaPath}/`));
    const matching = branches.map((b, i) => ({ b, i })).filter(({ b }) => b.type !== undefined && typeAccepts(b.type, alt.data));
    if (matching.length === 1) {
      const prefix = `${alt.schemaPath}/${matching[0].i}/`;
      for (const e of inside) if (!e.schemaPath.startsWith(prefix)) dropped.add(e);
      dropped.add(alt);
    } else {
      for (const e of inside) dropped.add(e);
    }
  }
  return errors.filter((e) => !dropped.has(e));
}

/** A value of the wrong type fails its other keywords too; the type error says it all. */
function dropShadowedByType(errors: ErrorObject[]): ErrorObject[] {
  const typed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  return errors.filter((e) => e.keyword === 'type' || e.keyword === 'required' || e.keyword === 'additionalProperties' || !typed.has(e.instancePath));
}

function customMessage(schema: unknown, keyword: string): string | undefined {
  const message = (schema as SchemaObject | undefined)?.['x-message'];
  if (typeof message === 'string') return message;
  if (message && typeof message === 'object') return (message as Record<string, string>)[keyword];
  return undefined;
}

function valueName(pointer: string, subject: SchemaSubject): string {
  const segments = pointerSegments(pointer);
  if (segments.length === 0) return subject.rootName;
  const last = segments[segments.length - 1];
  if (/^\d+$/.test(last)) {
    const index = Number(last) + 1;
    if (segments.length === 1) return subject.rootItemName ? `${subject.rootItemName} ${index}` : `${subject.rootName} item ${index}`;
    return `\`${segments[segments.length - 2]}\` item ${index}`;
  }
  return `\`${last}\``;
}

function objectName(schema: unknown, pointer: string, subject: SchemaSubject): string {
  const kind = (schema as SchemaObject | undefined)?.['x-kind'];
  return typeof kind === 'string' ? kind : valueName(pointer, subject);
}

interface Explained {
  error: ErrorObject;
  loc: Location;
  message: string;
  /** for an unknown key: the key we suggested instead */
  suggested?: string;
}

function explainUnknownKey(e: ErrorObject, subject: SchemaSubject): Explained {
  const key = String((e.params as { additionalProperty: string }).additionalProperty);
  const schema = e.parentSchema as SchemaObject;
  const kind = objectName(schema, e.instancePath, subject);
  const known = Object.keys((schema.properties as SchemaObject | undefined) ?? {});
  const choice = schema['x-choice'] as ChoiceAnnotation | undefined;
  const data = e.data as Record<string, unknown>;
  const loc = subject.locate(e.instancePath, key);
  if (choice && !choice.keys.some((k) => Object.hasOwn(data, k))) {
    const asChoice = suggest(key, choice.keys);
    if (asChoice) return { error: e, loc, suggested: asChoice, message: `unknown ${choice.noun} \`${key}\` (did you mean \`${asChoice}\`?)` };
    const asKey = suggest(key, known);
    if (asKey) return { error: e, loc, suggested: asKey, message: `unknown ${kind} key \`${key}\` (did you mean \`${asKey}\`?)` };
    return { error: e, loc, message: `unknown ${choice.noun} \`${key}\`; vipush has ${code(choice.keys)}` };
  }
  const near = suggest(key, known);
  if (near) return { error: e, loc, suggested: near, message: `unknown ${kind} key \`${key}\` (did you mean \`${near}\`?)` };
  return { error: e, loc, message: `unknown ${kind} key \`${key}\`; valid keys are ${code(known, 'and')}` };
}

function explainOne(e: ErrorObject, subject: SchemaSubject): Explained {
  const name = valueName(e.instancePath, subject);
  const got = (): string => (jsonType(e.data) === 'object' || jsonType(e.data) === 'array' ? '' : `, got ${showValue(e.data)}`);
  const custom = customMessage(e.parentSchema, e.keyword);
  const at = (message: string): Explained => ({ error: e, loc: subject.locate(e.instancePath), message });
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return explainUnknownKey(e, subject);
    case 'required':
      return at(`${objectName(e.parentSchema, e.instancePath, subject)} is missing \`${String(params.missingProperty)}\``);
    case 'propertyNames': {
      const key = String(params.propertyName);
      const message = customMessage(e.schema, 'pattern') ?? 'is not allowed here';
      return { error: e, loc: subject.locate(e.instancePath, key), message: `key \`${key}\` ${message}` };
    }
    case 'type':
      return at(`${name} ${custom ?? `must be ${typeWords(params.type)}`}, got ${showValue(e.data)}`);
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const near = typeof e.data === 'string' ? suggest(e.data, allowed) : undefined;
      return at(`${name} must be ${code(allowed)}${got()}${near ? ` (did you mean \`${near}\`?)` : ''}`);
    }
    case 'minimum':
    case 'exclusiveMinimum':
      return at(`${name} ${custom ?? `must be at least ${String(params.limit)}`}${got()}`);
    case 'maximum':
    case 'exclusiveMaximum':
      return at(`${name} ${custom ?? `must be at most ${String(params.limit)}`}${got()}`);
    case 'minItems':
    case 'minLength':
    case 'minProperties':
      return at(
        `${name} ${custom ?? (params.limit === 1 ? 'must not be empty' : `must have at least ${String(params.limit)} ${e.keyword === 'minLength' ? 'characters' : 'entries'}`)}`,
      );
    case 'anyOf':
    case 'oneOf': {
      const branches = (e.schema as SchemaObject[]).map((b) => b.type).filter((t) => t !== undefined);
      return at(`${name} ${custom ?? `must be ${typeWords(branches.flat())}`}${got()}`);
    }
    case 'format':
      return at(`${name} ${custom ?? `must be a valid ${String(params.format)}`}${got()}`);
    case 'pattern':
      return at(`${name} ${custom ?? 'has an invalid form'}${got()}`);
    default:
      return at(`${name} ${e.message ?? 'is invalid'}`);
  }
}

export function explainErrors(errors: ErrorObject[], subject: SchemaSubject): SchemaProblem[] {
  // propertyNames reports each bad key twice: once from its inner keyword
  // (tagged with propertyName), once as itself. Keep the latter.
  const own = errors.filter((e) => e.keyword === 'propertyNames' || (e as { propertyName?: string }).propertyName === undefined);
  const relevant = dropShadowedByType(narrowAlternatives(own)).filter((e) => !subject.ignore?.(e.instancePath));
  const explained = relevant.map((e) => explainOne(e, subject));
  // "unknown key `nmae` (did you mean `name`?)" already says what "missing `name`" would.
  const suggestedAt = new Set(explained.filter((x) => x.suggested).map((x) => `${x.error.instancePath}\0${x.suggested}`));
  return explained
    .filter(
      (x) =>
        !(
          x.error.keyword === 'required' &&
          suggestedAt.has(`${x.error.instancePath}\0${String((x.error.params as { missingProperty: string }).missingProperty)}`)
        ),
    )
    .map((x) => {
      const note = x.error.keyword === 'propertyNames' ? undefined : subject.note?.(x.error.instancePath);
      return { pointer: x.error.instancePath, diagnostic: { loc: x.loc, message: note ? `${x.message} ${note}` : x.message } };
    });
}
