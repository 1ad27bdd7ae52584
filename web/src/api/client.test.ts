import { describe, expect, it } from "vitest";
import { ApiError, problemMessage, unwrap } from "./client";

const BASE = "https://orbitask.dev/problems/";

function answer(status: number, body: object) {
  return Promise.resolve({ error: body, response: new Response(JSON.stringify(body), { status }) });
}

describe("problem messages", () => {
  it("explains a withheld replay in words a person understands", async () => {
    const body = {
      type: `${BASE}idempotency-response-withheld`, title: "Already done", status: 409,
      detail: "The first request with this Idempotency-Key succeeded; its response held a secret.",
    };
    const error = await unwrap(answer(409, body)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).message).toMatch(/shown only once/);
    expect((error as ApiError).message).not.toMatch(/Idempotency-Key/);
  });

  it("tells a person to reload after a lost answer", () => {
    const message = problemMessage({ type: `${BASE}idempotency-response-lost`, detail: "Idempotency-Key ..." }, 409);
    expect(message).toMatch(/Reload/);
    expect(message).not.toMatch(/Idempotency-Key/);
  });

  it("keeps the server's detail for every other problem", () => {
    expect(problemMessage({ type: `${BASE}conflict`, detail: "Name taken." }, 409)).toBe("Name taken.");
    expect(problemMessage({ detail: [{ msg: "too short", loc: ["body", "name"] }] }, 422)).toBe("name: too short");
    expect(problemMessage(null, 0)).toBe("The server could not be reached.");
  });
});
