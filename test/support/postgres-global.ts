/**
 * Optional vitest globalSetup: one PostgreSQL cluster for the whole run instead of one
 * per test file. Add it to a config's `test.globalSetup` (or pass
 * `--globalSetup test/support/postgres-global.ts`) once several files use Postgres; each
 * file's usePostgres() then creates its databases on this cluster (RELAY_TEST_PG_URL).
 * Without PostgreSQL here it starts nothing and the files skip with the reason.
 */
import { postgresAvailability, SHARED_URL_ENV, startPostgres } from './postgres'

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  const avail = postgresAvailability()
  if (!avail.ok || avail.source === 'shared') return undefined
  const cluster = await startPostgres()
  // Workers are started after global setup and inherit this environment.
  process.env[SHARED_URL_ENV] = cluster.adminUrl
  return async () => {
    delete process.env[SHARED_URL_ENV]
    await cluster.stop()
  }
}
