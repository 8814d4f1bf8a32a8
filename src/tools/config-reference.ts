import { SECTIONS } from '../config.js';
import { documentOptions, type OptionSpecs } from '../util/options.js';
import { ALL_MODULES } from '../xmpp/modules/index.js';

/**
 * The README's configuration reference, generated from the option
 * declarations so it cannot drift from what the server validates.
 * `npx tsx src/tools/config-reference.ts` prints it.
 */
export function configReference(): string {
  const parts: string[] = [];
  for (const [section, specs] of Object.entries(SECTIONS)) {
    parts.push(`### \`${section}\`\n\n${documentOptions(specs as OptionSpecs, `${section}.`)}`);
  }
  parts.push('### Modules\n\nModule options go under `modules.options.<name>`. Modules marked *off* load only when listed in `modules.enabled`.');
  for (const m of [...ALL_MODULES].sort((a, b) => a.name.localeCompare(b.name))) {
    const head = `#### \`${m.name}\` — ${m.implements}${m.defaultEnabled === false ? ' (*off* by default)' : ''}`;
    const opts = m.options && Object.keys(m.options).length > 0 ? documentOptions(m.options, '') : 'No options.';
    parts.push(`${head}\n\n${opts}`);
  }
  return parts.join('\n\n');
}

export const BEGIN = '<!-- config-reference:begin -->';
export const END = '<!-- config-reference:end -->';

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(configReference() + '\n');
}
