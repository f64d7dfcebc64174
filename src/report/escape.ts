// The one escaper lives in src/text (a leaf, so that src/source's diagnostics can use it too).
export { escapeBlock, escapeField, safeJson } from '../text/escape.js';
