/**
 * HTML built from template literals in which every interpolated value is
 * escaped unless it is itself `Html`: the dashboard renders job ids, payloads
 * and error messages that anyone who can add a job controls, so nothing
 * reaches the page unescaped by accident.
 *
 * @since 0.4.0
 */

const HtmlTypeId: unique symbol = Symbol.for("steadfast/admin/dashboard/Html")

/**
 * A fragment of markup that is safe to insert as it is.
 *
 * @since 0.4.0
 */
export interface Html {
  readonly [HtmlTypeId]: typeof HtmlTypeId
  readonly markup: string
}

/**
 * What a template may interpolate: markup as it is, text escaped, nothing
 * for `null`, `undefined` and `false`, arrays joined.
 *
 * @since 0.4.0
 */
export type Value = Html | string | number | boolean | null | undefined | ReadonlyArray<Value>

const raw = (markup: string): Html => ({ [HtmlTypeId]: HtmlTypeId, markup })

const isHtml = (value: unknown): value is Html =>
  typeof value === "object" && value !== null && HtmlTypeId in value

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/**
 * Escapes text for element content and for quoted attribute values.
 *
 * @since 0.4.0
 */
export const escape = (text: string): string => text.replace(/[&<>"']/g, (char) => entities[char] ?? char)

const render = (value: Value): string => {
  if (value === null || value === undefined || value === false) return ""
  if (isHtml(value)) return value.markup
  if (typeof value === "string") return escape(value)
  if (typeof value === "number" || value === true) return escape(String(value))
  return value.map(render).join("")
}

/**
 * The template tag: `html\`<td>${job.id}</td>\`` escapes `job.id`.
 * Attribute values must be written in double quotes.
 *
 * @since 0.4.0
 */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Value>): Html => {
  let out = strings[0] ?? ""
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "")
  return raw(out)
}

/**
 * The markup of a fragment.
 *
 * @since 0.4.0
 */
export const toString = (fragment: Html): string => fragment.markup

/**
 * A `<script type="application/json">` holding `value` for the page's script
 * to read: `<` is escaped inside the JSON so no value can end the element.
 *
 * @since 0.4.0
 */
export const jsonScript = (id: string, value: unknown): Html =>
  raw(`<script type="application/json" id="${escape(id)}">${JSON.stringify(value).replace(/</g, "\\u003c")}</script>`)
