// The node kinds the server knows (`GET /api/kinds`) and what each says about itself: its
// glyph, its config's JSON Schema, and in that schema its `x-weft-*` annotations (exits,
// expression and template fields, fields that name exits, status exits). Fields are named by
// patterns: JSON pointers into the node where `*` is any member or index, naming what is
// inside too (`/body`: every string of a JSON body). Nothing here knows a kind by name.

// The tokens of a JSON pointer (`/a~1b/0` → `['a/b', '0']`).
export const tokensOf = (pointer) => pointer.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));

// A member name as a JSON pointer token.
export const escapePointer = (key) => key.replace(/~/g, '~0').replace(/\//g, '~1');

// The exits that lead to a failure: a run that took one failed there, the layout lets their
// edges weigh nothing, the canvas may draw them as badges.
export const FAILURE_EXITS = new Set(['error', 'unauthenticated']);

// The file `name` names relative to the file `from` (both relative to the studio's folder), or
// null when it would leave the folder.
export function relativeFile(from, name) {
  const parts = from.split('/').slice(0, -1);
  for (const part of name.split('/')) {
    if (part === '..') {
      if (!parts.length) return null;
      parts.pop();
    } else if (part !== '.' && part !== '') parts.push(part);
  }
  return parts.join('/');
}

// The strings of `value` that `pattern` names.
function stringsAt(value, pattern) {
  const out = [];
  const walk = (v, tokens) => {
    if (typeof v === 'string' && !tokens.length) out.push(v);
    if (!v || typeof v !== 'object') return;
    const [t, ...rest] = tokens;
    for (const [k, child] of Object.entries(v)) {
      if (!tokens.length) walk(child, tokens);
      else if (t === '*' || t === k) walk(child, rest);
    }
  };
  walk(value, tokensOf(pattern));
  return out;
}

// `schema` with its `$ref`s followed (in `root`'s definitions) and `Option<T>` (`anyOf:
// [T, null]` or `type: [T, "null"]`) read as `T`.
export function resolve(schema, root) {
  let s = schema || {};
  for (let i = 0; i < 8 && s.$ref; i++) {
    const name = s.$ref.replace(/^#\/(\$defs|definitions)\//, '');
    s = { ...(root.$defs?.[name] || root.definitions?.[name] || {}), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref')) };
  }
  const options = s.anyOf || s.oneOf;
  if (options && !options.every((o) => o.const !== undefined)) {
    const nonNull = options.filter((o) => o.type !== 'null');
    if (nonNull.length === 1) s = { ...resolve(nonNull[0], root), description: s.description || nonNull[0].description };
  }
  if (Array.isArray(s.type)) {
    const types = s.type.filter((t) => t !== 'null');
    if (types.length === 1) s = { ...s, type: types[0] };
  }
  return s;
}

// The value a new field of schema `schema` starts with.
export function emptyValue(schema, root) {
  const s = resolve(schema, root);
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case 'string': return '';
    case 'integer': case 'number': return 0;
    case 'boolean': return false;
    case 'array': return [];
    case 'object': return {};
    default: return '';
  }
}

export class Kinds {
  #byName = new Map();

  // `list`: the server's `kinds`, in palette order.
  constructor(list) {
    for (const kind of list) this.#byName.set(kind.name, kind);
  }

  // Every kind, in palette order.
  all() {
    return [...this.#byName.values()];
  }

  // The kind `name` (`{ name, description, glyph, schema }`), if the server knows it.
  get(name) {
    return this.#byName.get(name);
  }

  // What `node`'s kind says of `key`: `x-weft-<key>` in its schema.
  about(node, key) {
    return this.get(node?.type)?.schema?.[`x-weft-${key}`];
  }

  // Whether the field of `node` at `tokens` (its pointer's tokens, from the node) is an
  // expression or a template.
  isCode(node, tokens) {
    const patterns = [...(this.about(node, 'expressions') || []), ...(this.about(node, 'templates') || [])];
    return patterns.some((p) => tokensOf(p).every((t, i) => i < tokens.length && (t === '*' || t === tokens[i])));
  }

  // The non-empty strings of `node` at the field patterns of `x-weft-<key>`.
  #named(node, key) {
    return (this.about(node, key) || []).flatMap((p) => stringsAt(node, p)).filter(Boolean);
  }

  // The flow files `node` runs (a call's `flow`), as its fields name them: relative to the
  // file of the flow it is in.
  flowsOf(node) {
    return this.#named(node, 'flows');
  }

  // The exits of a node the server has not built (yet): those its fields name, then its kind's.
  fallbackExits(node) {
    return [...this.#named(node, 'exit-fields'), ...(this.about(node, 'exits') || ['ok', 'error'])];
  }

  // A new node of `kind`: its required fields with their empty values.
  create(kind, id, position) {
    const schema = this.get(kind)?.schema;
    const node = { id, type: kind, position };
    for (const field of schema?.required || []) node[field] = emptyValue(schema.properties?.[field], schema);
    return node;
  }
}
