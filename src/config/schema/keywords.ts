/**
 * Annotation keywords vipush adds to its JSON Schemas. They do not validate;
 * the error explainer (src/config/schema-check.ts) reads them to turn ajv's
 * errors into sentences a user can act on.
 *
 * - `x-kind`: what an object is, for "unknown play key …" and "task is missing …".
 * - `x-choice`: keys of which a map holds exactly one (a task's module, a gate's
 *   kind), so an unknown key there reads "unknown module `adress`".
 * - `x-message`: the sentence after the value's name when this schema fails;
 *   a string for any keyword, or one per keyword.
 */
export const ANNOTATION_KEYWORDS = ['x-kind', 'x-choice', 'x-message'] as const;

export interface ChoiceAnnotation {
  noun: string;
  keys: readonly string[];
}
