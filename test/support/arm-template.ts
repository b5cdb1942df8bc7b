import { Deferred, evaluate, type Scope } from './arm-expressions.js';

/** An evaluated template value: plain JSON whose shape the test asserts on, so it is read without types. */
// biome-ignore lint/suspicious/noExplicitAny: evaluated ARM JSON has no static shape; the assertions check it.
export type Json = any;

/** A compiled (ARM JSON) template as `bicep build` writes it. */
export interface ArmTemplate {
  parameters?: Record<string, { type: string; defaultValue?: unknown }>;
  variables?: Record<string, unknown>;
  resources: ArmResource[];
  outputs?: Record<string, { type: string; value: unknown }>;
}

export interface ArmResource {
  type: string;
  name: string;
  condition?: unknown;
  properties?: Record<string, unknown> & {
    parameters?: Record<string, unknown>;
    template?: ArmTemplate;
  };
  [key: string]: unknown;
}

/** One deployment (the main template or one of its modules) evaluated with concrete parameter values. */
export class Deployment {
  readonly scope: Scope;

  constructor(
    readonly template: ArmTemplate,
    parameters: Record<string, unknown>,
    /** False when the module's condition is false: ARM skips it. */
    readonly deployed = true,
  ) {
    const values: Record<string, unknown> = {};
    const scope: Scope = { parameters: values, variables: template.variables ?? {} };
    for (const [name, p] of Object.entries(template.parameters ?? {})) {
      if (name in parameters) values[name] = parameters[name];
      else if (p.defaultValue !== undefined) values[name] = evaluate(p.defaultValue, scope);
    }
    this.scope = scope;
  }

  eval(value: unknown): unknown {
    return evaluate(value, this.scope);
  }

  variable(name: string): unknown {
    return this.eval(`[variables('${name}')]`);
  }

  /** The resources of a type, evaluated (copy loops expanded); those whose condition is false are left out. */
  resources(type: string): (Record<string, unknown> & { name: string })[] {
    const evaluated: (Record<string, unknown> & { name: string })[] = [];
    for (const r of this.template.resources.filter((x) => x.type === type)) {
      const { copy, condition, ...rest } = r as ArmResource & { copy?: { count: unknown } };
      const { template: _nested, ...properties } = rest.properties ?? {};
      const count = copy ? Number(this.eval(copy.count)) : 1;
      for (let i = 0; i < count; i++) {
        const scope = copy ? { ...this.scope, copyIndex: i } : this.scope;
        if (condition !== undefined && evaluate(condition, scope) !== true) continue;
        evaluated.push(
          evaluate({ ...rest, properties }, scope) as Record<string, unknown> & { name: string },
        );
      }
    }
    return evaluated;
  }

  /** The evaluated properties of the only (or the i-th) resource of a type; throws when there is none. */
  props(type: string, i = 0): Json {
    const resource = this.resources(type)[i];
    if (!resource) throw new Error(`no ${type} resource #${i}`);
    return resource.properties;
  }

  /** A module (nested deployment) of this template, with its parameters evaluated in this scope. */
  module(name: string): Deployment {
    const resource = this.template.resources.find(
      (r) => r.type === 'Microsoft.Resources/deployments' && r.name === name,
    );
    if (!resource?.properties?.template) throw new Error(`no module named ${name}`);
    const values: Record<string, unknown> = {};
    for (const [param, raw] of Object.entries(resource.properties.parameters ?? {})) {
      // Usually { value: expr }; a conditional value compiles to one expression that yields { value }.
      const evaluated = this.eval(raw) as { value?: unknown };
      values[param] = evaluated.value;
    }
    const deployed = resource.condition === undefined || this.eval(resource.condition) === true;
    return new Deployment(resource.properties.template, values, deployed);
  }

  outputs(): Record<string, unknown> {
    return Object.fromEntries(
      Object.entries(this.template.outputs ?? {}).map(([k, o]) => [k, this.eval(o.value)]),
    );
  }
}

/** Where a deploy-time value comes from (`identity.outputs.clientId`), or undefined for a concrete value. */
export const origin = (value: unknown): string | undefined =>
  value instanceof Deferred ? value.path.replace(/\.value$/, '') : undefined;
