/**
 * Faithful restore of imperfect data. A database whose rows violate its own foreign keys (a damaged
 * site: rows written or deleted with triggers off, a half-finished manual repair) dumps fine, but its
 * plain-format dump does not load with ON_ERROR_STOP: pg_dump adds every foreign key after the data
 * (`ALTER TABLE ONLY t ADD CONSTRAINT c FOREIGN KEY (…) REFERENCES …;`) and PostgreSQL checks the rows
 * then. Such a snapshot is exactly the one an operator needs most (the safety snapshot of a damaged site).
 *
 * This stream rewrites those statements to add the constraint `NOT VALID` (enforced for new rows, not
 * checked against the loaded ones) and records each; after the load commits, each is validated on its
 * own (`VALIDATE CONSTRAINT`): one that holds becomes an ordinary constraint, one that is violated stays
 * NOT VALID and is reported as a warning naming it. COPY data is passed through untouched.
 */
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';

/** A constraint added NOT VALID by the rewrite, as the dump names it (identifiers quoted as pg_dump quotes them). */
export interface DeferredConstraint {
  table: string;
  name: string;
}

/** The outcome of validating one deferred constraint after the load. */
export interface ConstraintCheck extends DeferredConstraint {
  valid: boolean;
  /** PostgreSQL's reason when it is violated. */
  error?: string;
}

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[^\s"]+)`;
const COPY_START = /^COPY .* FROM stdin;$/;
const ALTER_TABLE = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?(${IDENT}(?:\.${IDENT})?)(?:\s+(.*))?$`);
const ADD_FK = new RegExp(String.raw`^\s*ADD CONSTRAINT (${IDENT}) FOREIGN KEY .*;$`);

/** Rewrites the foreign keys of a plain-format pg_dump stream to `NOT VALID`; see the module comment. */
export class NotValidForeignKeys extends Transform {
  /** Every constraint rewritten so far, in dump order. */
  readonly deferred: DeferredConstraint[] = [];
  private readonly decoder = new StringDecoder('utf8');
  private carry = '';
  private inCopy = false;
  /** The table of an `ALTER TABLE` statement whose clause is on the next line. */
  private table: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.carry + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.carry = lines.pop() ?? '';
    if (lines.length > 0) this.push(`${lines.map((l) => this.line(l)).join('\n')}\n`);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const rest = this.carry + this.decoder.end();
    if (rest.length > 0) this.push(this.line(rest));
    callback();
  }

  private line(line: string): string {
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return line;
    }
    if (COPY_START.test(line)) {
      this.inCopy = true;
      this.table = undefined;
      return line;
    }
    const alter = ALTER_TABLE.exec(line);
    if (alter) {
      const [, table = '', clause] = alter;
      this.table = clause === undefined ? table : undefined;
      return clause === undefined ? line : this.clause(table, line, clause);
    }
    const table = this.table;
    this.table = undefined;
    return table === undefined ? line : this.clause(table, line, line);
  }

  /** `clause` is the part of `line` after the table name: adds NOT VALID to a foreign key. */
  private clause(table: string, line: string, clause: string): string {
    const fk = ADD_FK.exec(clause);
    if (!fk || / NOT VALID;$/.test(line)) return line;
    this.deferred.push({ table, name: fk[1] ?? '' });
    return `${line.slice(0, -1)} NOT VALID;`;
  }
}

/** Warnings for the constraints a load left NOT VALID (empty when every one validated). */
export function constraintWarnings(checks: readonly ConstraintCheck[]): string[] {
  return checks.filter((c) => !c.valid).map((c) => `constraint ${c.name} on ${c.table} is violated by the restored rows and stays NOT VALID${c.error ? ` (${c.error})` : ''}`);
}
