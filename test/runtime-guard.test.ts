// A runtime adapter used on another runtime (JSR serves its root, the Deno adapter, to Node
// and Bun users too) refuses at its first connect or listen with ERR_UNSUPPORTED naming the
// import that works there, instead of failing with "Bun is not defined". Importing it stays
// free of side effects. The Node adapter needs only node:* modules, which every runtime has.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NetError } from "../src/errors.ts";
import { dialRaw } from "../src/socket/dial.ts";
import type { Transport } from "../src/transport.ts";
import { runtime, transport } from "./helpers/runtime.ts";

const others = (["deno", "bun"] as const).filter((name) => name !== runtime);
const jsrRoot: string = (JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8")) as { exports: Record<string, string> }).exports["."]!;
// The adapter JSR serves as "@wireline/wireline" ("./adapters/deno.ts").
const jsrRootAdapter: string = /^\.\/adapters\/(\w+)\.ts$/.exec(jsrRoot)?.[1] ?? `not an adapter: ${jsrRoot}`;

async function refusal(attempt: () => Promise<unknown>): Promise<NetError> {
  const error: unknown = await attempt().then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(NetError);
  return error as NetError;
}

function expectNamesTheRightImport(error: NetError, adapter: string): void {
  expect(error.code).toBe("ERR_UNSUPPORTED");
  expect(error.message).toContain(`wireline/${adapter} runs on`);
  expect(error.message).toContain(`"wireline/${runtime}" (npm)`);
  expect(error.message).toContain(`"@wireline/wireline/${runtime}" (JSR)`);
}

describe(`another runtime's adapter on ${runtime}`, () => {
  for (const adapter of others) {
    it(`wireline/${adapter}: importing has no effect; connect and listen refuse with ERR_UNSUPPORTED naming wireline/${runtime}`, async () => {
      const mod = (await import(`../adapters/${adapter}.ts`)) as Record<string, unknown>;
      const foreign = mod[`${adapter}Transport`] as Transport;
      expect(foreign.name).toBe(adapter);
      const connect = mod.connect as (address: string) => Promise<unknown>;
      const listen = mod.listen as (options: object, handler: () => void) => Promise<unknown>;
      expectNamesTheRightImport(await refusal(() => connect("127.0.0.1:1")), adapter);
      expectNamesTheRightImport(await refusal(() => listen({ hostname: "127.0.0.1", port: 0 }, () => {})), adapter);
      // The transport itself refuses too, for adapter authors and createNet() users.
      const address = { transport: "tcp", hostname: "127.0.0.1", port: 1 } as const;
      expectNamesTheRightImport(await refusal(() => dialRaw(foreign, address)), adapter);
    });
  }

  it.skipIf(runtime === jsrRootAdapter)("the JSR root entry refuses with the JSR import of this runtime's adapter", async () => {
    const mod = (await import(`../adapters/${jsrRootAdapter}.ts`)) as { connect: (address: string) => Promise<unknown> };
    const error = await refusal(() => mod.connect("127.0.0.1:1"));
    expect(error.code).toBe("ERR_UNSUPPORTED");
    expect(error.message).toContain(`"@wireline/wireline/${runtime}" (JSR)`);
  });

  it(`wireline/${runtime} itself is not refused`, async () => {
    const error = await refusal(() => dialRaw(transport, { transport: "tcp", hostname: "127.0.0.1", port: 1 }));
    expect(error.code).toBe("ECONNREFUSED");
  });
});
