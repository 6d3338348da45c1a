/** Ready-made containers for common services, as testcontainers' modules. */
export { PostgreSqlContainer, StartedPostgreSqlContainer } from "./postgresql-container";
export { RedisContainer, StartedRedisContainer } from "./redis-container";
export { MariaDbContainer, MySqlContainer, StartedMariaDbContainer, type StartedMySqlContainer } from "./mariadb-container";
