/**
 * The flat record the native helper reads (native/PROTOCOL.md): NUL-terminated `key`, `value`
 * pairs. The helper never parses JSON; this is the only format it accepts.
 */
import { invalidArgument } from "../../errors";

/** A key and its value; an array value is several fields (`bind`: source, target, mode). */
export type RecordField = [key: string, value: string | number | string[]];

/** Encodes fields into the record, starting with `version 1`. */
export function encodeRecord(fields: RecordField[]): Buffer {
  const parts: string[] = ["version", "1"];
  for (const [key, value] of fields) {
    parts.push(key);
    for (const part of Array.isArray(value) ? value : [value]) {
      const text = String(part);
      if (text.includes("\0")) throw invalidArgument(`${key}`, "a string without NUL bytes", text);
      parts.push(text);
    }
  }
  return Buffer.from(parts.join("\0") + "\0", "utf8");
}

/** Repeats a key once per value, keeping their order. */
export function many(key: string, values: Iterable<string | number>): RecordField[] {
  return Array.from(values, (v): RecordField => [key, v]);
}
