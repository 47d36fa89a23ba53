// Prompt templates: "Review: {text}\nSentiment:" with `{field}` replaced by the record's field. `{{` and `}}` write
// literal braces. Templates are parsed once per call; they are short, so no cache is needed.
import { DatasetError, describeValue, type Location } from './errors';

type Part = { text: string } | { field: string };

/** The field names a template uses, in order of first use. Throws for a malformed template. */
export function templateFields(template: string): string[] {
  const names = parseTemplate(template).flatMap((p) => ('field' in p ? [p.field] : []));
  return [...new Set(names)];
}

/** Fills `{name}` placeholders from `fields`. A missing field or an object value is the dataset's fault. */
export function fillTemplate(template: string, fields: Record<string, unknown>, where: Location): string {
  return parseTemplate(template).map((p) => ('text' in p ? p.text : fieldText(fields, p.field, where))).join('');
}

/** One field as prompt text, with the same checks as a {name} placeholder. */
export function fieldText(fields: Record<string, unknown>, name: string, where: Location, role = `the template uses {${name}}`): string {
  if (!Object.prototype.hasOwnProperty.call(fields, name)) {
    const known = Object.keys(fields);
    const has = known.length ? `the record has: ${known.join(', ')}` : 'the record has no fields';
    throw new DatasetError(where, `field "${name}" is missing; ${role} (${has}).`, name);
  }
  const value = fields[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  throw new DatasetError(where, `field "${name}" is ${describeValue(value)}; expected text, a number or a boolean ` +
    `(${role}).`, name);
}

function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      text += c; // escaped brace
      i++;
    } else if (c === '{') {
      const close = template.indexOf('}', i + 1);
      const name = close < 0 ? '' : template.slice(i + 1, close).trim();
      if (close < 0 || name === '' || name.includes('{')) throw templateError(template, i, '{');
      if (text) parts.push({ text });
      parts.push({ field: name });
      text = '';
      i = close;
    } else if (c === '}') {
      throw templateError(template, i, '}');
    } else {
      text += c;
    }
  }
  if (text) parts.push({ text });
  return parts;
}

function templateError(template: string, at: number, brace: string): Error {
  const what = brace === '{' ? 'a "{" that does not start a {field} placeholder' : 'a "}" that closes no placeholder';
  return new Error(`The template ${JSON.stringify(template)} has ${what} at character ${at + 1}; ` +
    `write ${brace}${brace} for a literal brace.`);
}
