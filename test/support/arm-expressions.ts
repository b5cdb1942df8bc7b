/**
 * Evaluates the ARM template language expressions that `bicep build` emits ("[format('{0}', parameters('x'))]"),
 * enough to read what a deployment would set with given parameters. Values only known at deployment time
 * (`reference(...)` of another deployment's outputs, `resourceId(...)`, `subscription()`, ...) evaluate to a
 * `Deferred` that remembers where they come from, e.g. `identity.outputs.clientId`, so tests can still assert on
 * their origin.
 */

export class Deferred {
  constructor(readonly path: string) {}
  get(key: string | number): Deferred {
    return new Deferred(`${this.path}.${key}`);
  }
  toString(): string {
    return `{${this.path}}`;
  }
}

export interface Scope {
  parameters: Record<string, unknown>;
  /** Raw (unevaluated) variables of the template; evaluated on first use. */
  variables: Record<string, unknown>;
  /** The iteration of a copy loop being evaluated. */
  copyIndex?: number;
}

type Token = { kind: 'ident' | 'string' | 'number' | 'punct'; text: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string in ${source}`);
        if (source[i] === "'" && source[i + 1] === "'") {
          text += "'";
          i += 2;
        } else if (source[i] === "'") {
          i++;
          break;
        } else {
          text += source[i++];
        }
      }
      tokens.push({ kind: 'string', text });
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(source.slice(i));
      if (!m) throw new Error(`bad number at ${source.slice(i)}`);
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(source.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    } else if ('(),.[]'.includes(c)) {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else {
      throw new Error(`unexpected "${c}" in ${source}`);
    }
  }
  return tokens;
}

type Node =
  | { kind: 'literal'; value: unknown }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'member'; target: Node; key: Node };

function parse(source: string): Node {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = () => tokens[pos];
  const expect = (text: string) => {
    const t = tokens[pos++];
    if (t?.text !== text) throw new Error(`expected "${text}" in ${source}`);
  };
  const primary = (): Node => {
    const t = tokens[pos++];
    if (!t) throw new Error(`unexpected end of ${source}`);
    let node: Node;
    if (t.kind === 'string') node = { kind: 'literal', value: t.text };
    else if (t.kind === 'number') node = { kind: 'literal', value: Number(t.text) };
    else if (t.kind === 'ident') {
      expect('(');
      const args: Node[] = [];
      while (peek()?.text !== ')') {
        args.push(primary());
        if (peek()?.text === ',') pos++;
      }
      expect(')');
      node = { kind: 'call', name: t.text.toLowerCase(), args };
    } else throw new Error(`unexpected "${t.text}" in ${source}`);
    for (;;) {
      if (peek()?.text === '.') {
        pos++;
        const key = tokens[pos++];
        if (key?.kind !== 'ident') throw new Error(`bad member access in ${source}`);
        node = { kind: 'member', target: node, key: { kind: 'literal', value: key.text } };
      } else if (peek()?.text === '[') {
        pos++;
        const key = primary();
        expect(']');
        node = { kind: 'member', target: node, key };
      } else return node;
    }
  };
  const node = primary();
  if (pos !== tokens.length) throw new Error(`trailing tokens in ${source}`);
  return node;
}

const num = (v: unknown) => {
  if (typeof v !== 'number') throw new Error(`expected a number, got ${String(v)}`);
  return v;
};

const text = (v: unknown): string => (v instanceof Deferred ? v.toString() : String(v));

function member(target: unknown, key: unknown): unknown {
  if (target instanceof Deferred) return target.get(key as string);
  if (target === null || typeof target !== 'object')
    throw new Error(`cannot read ${String(key)} of ${target}`);
  const record = target as Record<string, unknown>;
  const k = String(key);
  if (!(k in record)) throw new Error(`no property "${k}" (ARM would fail the deployment here)`);
  return record[k];
}

function call(name: string, args: unknown[], scope: Scope): unknown {
  switch (name) {
    case 'parameters': {
      const key = String(args[0]);
      if (!(key in scope.parameters)) throw new Error(`parameter ${key} has no value`);
      return scope.parameters[key];
    }
    case 'variables':
      return evaluate(scope.variables[String(args[0])], scope);
    case 'string':
      return typeof args[0] === 'object' && !(args[0] instanceof Deferred)
        ? JSON.stringify(args[0])
        : text(args[0]);
    case 'format':
      return String(args[0]).replace(/\{(\d+)\}/g, (_, i: string) => text(args[Number(i) + 1]));
    case 'concat':
      return Array.isArray(args[0]) ? args.flat() : args.map(text).join('');
    case 'copyindex':
      if (scope.copyIndex === undefined) throw new Error('copyIndex() outside a copy loop');
      return scope.copyIndex + (typeof args[0] === 'number' ? args[0] : 0);
    case 'null':
      return null;
    case 'true':
      return true;
    case 'false':
      return false;
    case 'replace':
      return args.some((a) => a instanceof Deferred)
        ? new Deferred(`replace(${args.map(text).join(',')})`)
        : String(args[0]).replaceAll(String(args[1]), String(args[2]));
    case 'if':
      return args[0] ? args[1] : args[2];
    case 'not':
      return !args[0];
    case 'and':
      return args.every(Boolean);
    case 'or':
      return args.some(Boolean);
    case 'equals':
      return args[0] === args[1];
    case 'empty':
      return args[0] === '' || args[0] === null || (Array.isArray(args[0]) && args[0].length === 0);
    case 'greater':
      return num(args[0]) > num(args[1]);
    case 'less':
      return num(args[0]) < num(args[1]);
    case 'min':
      return Math.min(...args.map(num));
    case 'max':
      return Math.max(...args.map(num));
    case 'add':
      return num(args[0]) + num(args[1]);
    case 'sub':
      return num(args[0]) - num(args[1]);
    case 'mul':
      return num(args[0]) * num(args[1]);
    case 'div':
      return Math.trunc(num(args[0]) / num(args[1]));
    case 'length':
      return (args[0] as unknown[]).length;
    case 'createobject': {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < args.length; i += 2) o[String(args[i])] = args[i + 1];
      return o;
    }
    case 'createarray':
      return args;
    case 'union':
      return Object.assign({}, ...args);
    case 'json':
      return args[0] === 'null' ? null : JSON.parse(String(args[0]));
    case 'tolower':
      return args[0] instanceof Deferred ? args[0] : String(args[0]).toLowerCase();
    case 'reference': {
      // reference(resourceId('Microsoft.Resources/deployments', 'identity'), ...) -> identity
      const target =
        args[0] instanceof Deferred ? args[0].path.replace(/^resourceId\(.*deployments,/, '') : '';
      return new Deferred(target.replace(/\)$/, ''));
    }
    case 'resourceid':
      return new Deferred(`resourceId(${args.map(text).join(',')})`);
    default:
      return new Deferred(`${name}(${args.map(text).join(',')})`);
  }
}

function run(node: Node, scope: Scope): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'member':
      return member(run(node.target, scope), run(node.key, scope));
    case 'call':
      return call(
        node.name,
        node.args.map((a) => run(a, scope)),
        scope,
      );
  }
}

/** Evaluates a template value: "[expr]" strings are expressions, objects and arrays are evaluated deeply. */
export function evaluate(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') {
    if (value.startsWith('[[')) return value.slice(1);
    if (value.startsWith('[') && value.endsWith(']')) return run(parse(value.slice(1, -1)), scope);
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => evaluate(v, scope));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, scope)]));
  }
  return value;
}
