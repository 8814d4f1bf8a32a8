/**
 * A fixture made fresh for every test of the enclosing describe: `start`
 * runs before each test, `stop` after it. The returned object takes the new
 * fixture's fields before each test, so tests read them through it
 * (`users.alice`); fields copied out of it at describe time would be the
 * previous test's, or undefined.
 */
export function eachTest<T extends object>(start: () => Promise<T>, stop: (fixture: T) => Promise<void>): T {
  const fixture = {} as T;
  beforeEach(async function () {
    Object.assign(fixture, await start());
  });
  afterEach(async function () {
    await stop(fixture);
  });
  return fixture;
}
