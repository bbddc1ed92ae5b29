/** Small DOM helpers: elements are built, never parsed from strings (no HTML injection). */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

/** `h('td', { class: 'num' }, '12')`: an element with attributes (`on…`: a listener) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'number' ? String(c) : c)));
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no element #${id}`);
  return el as T;
}

/** A table with a header row; `body` gets the rows. */
export function table(id: string, headers: (string | [string, string])[]): { wrap: HTMLElement; body: HTMLTableSectionElement } {
  const body = h('tbody', { id });
  const head = h('tr', {}, ...headers.map((x) => (typeof x === 'string' ? h('th', { scope: 'col' }, x) : h('th', { scope: 'col', class: x[1] }, x[0]))));
  return { wrap: h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, head), body)), body };
}

/** A one-line status in `el` (what a button did, or why it failed: in the error colour). */
export function tell(el: HTMLElement, text: string, error = false): void {
  el.textContent = text;
  el.className = error ? 'error' : '';
}
