import type { CoalescingStore } from '../storage/coalescing.js';
import type { MetricsApi } from './registry.js';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * What the store's write batches report (CoalescingStore): how long the
 * backend takes to write one, and how long the oldest rows in it waited to
 * be durable, which is the longest a message waited for its archive and
 * offline writes (a sender's acknowledgement waits for them). One
 * observation per batch, so the chat path pays nothing per message.
 */
export function registerStoreMetrics(metrics: MetricsApi, store: Pick<CoalescingStore, 'observeBatches'>): void {
  const write = metrics.histogram('sori_store_batch_write_seconds', 'Time the storage backend took to write one batch of rows (archives, offline messages), in seconds.', SECONDS);
  const waited = metrics.histogram('sori_store_batch_wait_seconds', "From a batch's oldest rows being handed to the store to their being written: the longest a write waited to be durable, in seconds.", SECONDS);
  const batches = metrics.counter('sori_store_batches_total', 'Write batches sent to the storage backend, by outcome (ok, error).', ['outcome']);
  const ok = batches.series('ok');
  const failed = batches.series('error');
  const rows = metrics.counter('sori_store_rows_written_total', 'Rows the storage backend wrote in batches.').series();
  store.observeBatches((report) => {
    write.observe(report.writeSeconds);
    waited.observe(report.waitedSeconds);
    if (report.ok) {
      ok.inc();
      rows.inc(report.rows);
    } else failed.inc();
  });
}
