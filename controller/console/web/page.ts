/** What every page of the console is: the state of the view it follows, redrawn on each update, and its problem box. */
import type { StreamState } from '../protocol.js';
import { h } from './dom.js';

export abstract class ViewPage {
  protected state: StreamState = {};
  /** Why the view cannot be shown (the server's error), or hidden. */
  readonly problem = h('div', { id: 'problem', class: 'problem', hidden: true });

  update(state: StreamState): void {
    this.state = state;
    this.render();
  }

  /** Draws the page from `state`; also called every few seconds to redraw ages. */
  abstract render(): void;
}
