import type { TestProject } from "vitest/node";
import { RedisContainer, type StartedRedisContainer } from "testcell";

let redis: StartedRedisContainer | undefined;

export async function setup(project: TestProject): Promise<void> {
  redis = await new RedisContainer().start();
  project.provide("redisUrl", redis.getConnectionUrl());
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
