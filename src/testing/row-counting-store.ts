import { MemoryStore } from '../storage/memory/index.js';
import type { RangeOptions, Row } from '../storage/wide-column.js';

/**
 * A memory store that counts the rows range reads return, for the range
 * reads `counts` picks (by table and options): what tests assert to show a
 * request reads a page, an index or a counter instead of a whole partition.
 */
export class RowCountingStore extends MemoryStore {
  rows = 0;

  constructor(private readonly counts: (table: string, options: RangeOptions) => boolean) {
    super();
  }

  override async range(table: string, pk: string, options: RangeOptions = {}): Promise<Row[]> {
    const rows = await super.range(table, pk, options);
    if (this.counts(table, options)) this.rows += rows.length;
    return rows;
  }
}
