// Starts one PostgreSQL for the whole run and hands its URL to every worker.
import { PostgreSqlContainer } from "testcell";
import { sharedContainers } from "testcell/jest";

export default sharedContainers(async () => {
  const pg = await new PostgreSqlContainer().start();
  return { env: { DATABASE_URL: pg.getConnectionUri(), DATABASE_CONTAINER: pg.getId() }, containers: [pg] };
});
