import { expect } from 'chai';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { scrapedHistogram } from '../testing/metrics.js';
import { MetricsRegistry } from './registry.js';

const family = (text: string, name: string) => parsePrometheusTextFormat(text).find((f) => f.name === name);

describe('MetricsRegistry', () => {
  it('renders counters and gauges that a Prometheus text parser reads back with their labels and values', () => {
    const m = new MetricsRegistry();
    const c = m.counter('sori_things_total', 'Things, by kind.', ['kind', 'origin']);
    c.inc('a', 'local');
    c.inc('a', 'local');
    const b = c.series('b', 'remote');
    b.inc();
    b.inc(5);
    m.gauge('sori_level', 'A level.', () => 7.5);
    m.gauge('sori_by_state', 'By state.', () => [[['up'], 2], [['down'], 0]], ['state']);
    const text = m.render();
    const things = family(text, 'sori_things_total')!;
    expect(things.type).to.equal('COUNTER');
    expect(things.help).to.equal('Things, by kind.');
    expect(things.metrics).to.deep.include.members([{ labels: { kind: 'a', origin: 'local' }, value: '2' }, { labels: { kind: 'b', origin: 'remote' }, value: '6' }]);
    expect(family(text, 'sori_level')!.metrics).to.deep.equal([{ value: '7.5' }]);
    expect(family(text, 'sori_by_state')!.type).to.equal('GAUGE');
    expect(family(text, 'sori_by_state')!.metrics).to.deep.equal([{ labels: { state: 'up' }, value: '2' }, { labels: { state: 'down' }, value: '0' }]);
  });

  it('renders a histogram as cumulative buckets with +Inf, a sum and a count, as a Prometheus text parser reads them', () => {
    const m = new MetricsRegistry();
    const h = m.histogram('sori_wait_seconds', 'Waits.', [0.1, 0.5, 1]);
    for (const v of [0.05, 0.1, 0.3, 0.7, 4]) h.observe(v);
    expect(scrapedHistogram(m.render(), 'sori_wait_seconds')).to.deep.equal({ buckets: { '0.1': 2, '0.5': 3, '1': 4, '+Inf': 5 }, count: 5, sum: 5.15 });
    expect(() => m.histogram('sori_bad_seconds', 'Bad.', [1, 0.5])).to.throw(/ascending/);
  });

  it('escapes label values and help text, so odd input cannot break the exposition', () => {
    const m = new MetricsRegistry();
    m.counter('sori_odd_total', 'Help with a \\ and a\nnew line.', ['v']).inc('quote " backslash \\ newline \n end');
    m.gauge('sori_after', 'Still parsed after the odd one.', () => 1);
    const text = m.render();
    expect(family(text, 'sori_odd_total')!.metrics[0]!.labels).to.deep.equal({ v: 'quote " backslash \\ newline \n end' });
    expect(family(text, 'sori_after')!.metrics[0]!.value).to.equal('1');
  });

  it('leaves out a gauge whose read throws and still renders the others', () => {
    const m = new MetricsRegistry();
    m.gauge('sori_broken', 'Broken.', () => {
      throw new Error('no reading');
    });
    m.gauge('sori_fine', 'Fine.', () => 3);
    const text = m.render();
    expect(text).to.contain('# sori_broken could not be read: no reading');
    expect(family(text, 'sori_broken')?.metrics ?? []).to.deep.equal([]);
    expect(family(text, 'sori_fine')!.metrics[0]!.value).to.equal('3');
  });

  it('refuses a name registered twice, invalid names, counters not named _total and the wrong number of label values', () => {
    const m = new MetricsRegistry();
    m.gauge('sori_once', 'Once.', () => 1);
    expect(() => m.gauge('sori_once', 'Again.', () => 1)).to.throw(/twice/);
    expect(() => m.gauge('sori-dash', 'Bad.', () => 1)).to.throw(/invalid/);
    expect(() => m.counter('sori_count', 'No suffix.')).to.throw(/_total/);
    expect(() => m.counter('sori_labelled_total', 'Two labels.', ['a', 'b']).inc('only-one')).to.throw(/2 label values/);
  });
});
