import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../../functions/function-table.js';

/**
 * Idle cost: on Flex Consumption every timer runs on its own instance and each run is billed at least 1 s, around
 * the clock (docs/deploy.md, "What it costs at rest"). No timer may fire more often than once a minute; the outbox
 * relays are a safety net behind the writers' own publish right after commit.
 */
describe('timer schedules', () => {
  const timers = FUNCTIONS.filter((f) => f.kind === 'timer');

  it.each(timers.map((t) => [t.name, t.schedule]))('%s (%s) fires at most once a minute', (_, schedule) => {
    const fields = schedule.split(/\s+/);
    expect(fields).toHaveLength(6); // NCRONTAB: second minute hour day month weekday
    expect(fields[0], 'the seconds field names one second').toMatch(/^\d{1,2}$/);
  });

  it('the outbox relays run every minute, on second 0', () => {
    const relays = timers.filter((t) => t.name.endsWith('OutboxRelay'));
    expect(relays.map((t) => t.name).sort()).toEqual(['inventoryOutboxRelay', 'ordersOutboxRelay']);
    for (const relay of relays) expect(relay.schedule).toBe('0 * * * * *');
  });
});
