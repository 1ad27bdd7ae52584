import { afterEach, describe, expect, it, vi } from "vitest";
import { apiFetch, consistencyToken, resetConsistency, tokenSeq } from "./http";

// Encoded by src/orbitask/core/tokens.py (ConsistencyToken(seq, id).encode()).
const SEQ_5 = "djE6NTowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwNQ";
const SEQ_6 = "djE6NjowMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwNg";
const SEQ_BIG = "djE6MTIzNDU2Nzg5MDEyOjBmOGZhZDViZDljYjQ2OWZhMTY1NzA4Njc3Mjg5NTBl";

afterEach(() => {
  vi.unstubAllGlobals();
  resetConsistency();
});

describe("consistency token", () => {
  it("reads the sequence the server's tokens carry", () => {
    expect(tokenSeq(SEQ_5)).toBe(5);
    expect(tokenSeq(SEQ_BIG)).toBe(123456789012);
    expect(tokenSeq("not a token")).toBe(0);
    expect(tokenSeq(null)).toBe(0);
  });

  it("keeps the newest token when the answer to an older write arrives last", async () => {
    const answers: Array<(r: Response) => void> = [];
    vi.stubGlobal("document", { cookie: "" });
    vi.stubGlobal("fetch", () => new Promise<Response>((resolve) => answers.push(resolve)));
    const older = apiFetch(new Request("http://x/api/v1/cards/1", { method: "PATCH", body: "{}" }));
    const newer = apiFetch(new Request("http://x/api/v1/cards/2", { method: "PATCH", body: "{}" }));
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[1](new Response("{}", { headers: { "X-Orbitask-Token": SEQ_6 } }));
    await newer;
    answers[0](new Response("{}", { headers: { "X-Orbitask-Token": SEQ_5 } }));
    await older;
    expect(consistencyToken()).toBe(SEQ_6);
  });

  it("sends the kept token on the next read", async () => {
    const sent: Array<string | null> = [];
    vi.stubGlobal("fetch", (req: Request) => {
      sent.push(req.headers.get("X-Orbitask-Token"));
      return Promise.resolve(new Response("{}", { headers: { "X-Orbitask-Token": SEQ_6 } }));
    });
    await apiFetch(new Request("http://x/api/v1/boards/1"));
    await apiFetch(new Request("http://x/api/v1/boards/1"));
    expect(sent).toEqual([null, SEQ_6]);
  });

  it("does not retry a request its caller cancelled", async () => {
    let calls = 0;
    vi.stubGlobal("fetch", (req: Request) => {
      calls++;
      return new Promise<Response>((_, reject) =>
        req.signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    });
    const abort = new AbortController();
    const pending = apiFetch(new Request("http://x/api/v1/search?q=a", { signal: abort.signal }));
    await vi.waitFor(() => expect(calls).toBe(1));
    abort.abort();
    await expect(pending).rejects.toThrow();
    expect(calls).toBe(1);
  });
});
