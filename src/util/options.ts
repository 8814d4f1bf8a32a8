/**
 * Declared, validated options. Every configurable value in sori is described
 * by an OptionSpec; the loader validates user input against it and the README's
 * configuration reference is generated from the same declarations.
 */
export type OptionSpec =
  | { type: 'string'; default: string; doc: string; enum?: readonly string[] }
  | { type: 'optional-string'; default?: undefined; doc: string }
  | { type: 'number'; default: number; doc: string; min?: number; max?: number; integer?: boolean }
  | { type: 'boolean'; default: boolean; doc: string }
  | { type: 'string[]'; default: readonly string[]; doc: string }
  | { type: 'record'; default: Readonly<Record<string, unknown>>; doc: string };

export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: 'string' }
  ? string
  : S extends { type: 'optional-string' }
    ? string | undefined
    : S extends { type: 'number' }
      ? number
      : S extends { type: 'boolean' }
        ? boolean
        : S extends { type: 'string[]' }
          ? string[]
          : Record<string, unknown>;

export type OptionValues<O extends OptionSpecs> = { [K in keyof O]: ValueOf<O[K]> };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describe(spec: OptionSpec): string {
  switch (spec.type) {
    case 'string':
      return spec.enum ? `one of ${spec.enum.map((e) => `"${e}"`).join(', ')}` : 'a string';
    case 'optional-string':
      return 'a string';
    case 'number': {
      const parts = [spec.integer ? 'an integer' : 'a number'];
      if (spec.min !== undefined) parts.push(`>= ${spec.min}`);
      if (spec.max !== undefined) parts.push(`<= ${spec.max}`);
      return parts.join(' ');
    }
    case 'boolean':
      return 'true or false';
    case 'string[]':
      return 'a list of strings';
    case 'record':
      return 'an object';
  }
}

/** Validates `input` against `specs`; `path` prefixes key names in error messages. */
export function resolveOptions<O extends OptionSpecs>(specs: O, input: Record<string, unknown> | undefined, path: string): OptionValues<O> {
  const out: Record<string, unknown> = {};
  const given = input ?? {};
  for (const key of Object.keys(given)) {
    if (!(key in specs)) {
      throw new ConfigError(`${path}.${key}: unknown option (known: ${Object.keys(specs).join(', ') || 'none'})`);
    }
  }
  for (const [key, spec] of Object.entries(specs)) {
    const v = given[key];
    const name = `${path}.${key}`;
    if (v === undefined) {
      out[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
      continue;
    }
    const bad = (): never => {
      throw new ConfigError(`${name}: got ${JSON.stringify(v)}, expected ${describe(spec)}`);
    };
    switch (spec.type) {
      case 'string':
        if (typeof v !== 'string' || (spec.enum && !spec.enum.includes(v))) bad();
        break;
      case 'optional-string':
        if (typeof v !== 'string') bad();
        break;
      case 'number':
        if (typeof v !== 'number' || Number.isNaN(v)) bad();
        if (spec.integer && !Number.isInteger(v)) bad();
        if (spec.min !== undefined && (v as number) < spec.min) bad();
        if (spec.max !== undefined && (v as number) > spec.max) bad();
        break;
      case 'boolean':
        if (typeof v !== 'boolean') bad();
        break;
      case 'string[]':
        if (!Array.isArray(v) || v.some((e) => typeof e !== 'string')) bad();
        break;
      case 'record':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) bad();
        break;
    }
    out[key] = v;
  }
  return out as OptionValues<O>;
}

/** Markdown table of options, for the README's configuration reference. */
export function documentOptions(specs: OptionSpecs, prefix: string): string {
  const rows = Object.entries(specs).map(([k, s]) => `| \`${prefix}${k}\` | ${describe(s)} | \`${JSON.stringify(s.default ?? null)}\` | ${s.doc} |`);
  return ['| key | type | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
