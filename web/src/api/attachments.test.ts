import { afterEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_MAX_BYTES, UploadError, checkFile, formatBytes, isCoverable, maxUploadBytes, uploadAttachment, uploadErrorMessage } from "./attachments";

const MiB = 1024 * 1024;
const P = "https://orbitask.dev/problems/";

describe("sizes", () => {
  it("read as people write them", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(48213)).toBe("47.1 KB");
    expect(formatBytes(25 * MiB)).toBe("25 MB");
    expect(formatBytes(250 * MiB)).toBe("250 MB");
    expect(formatBytes(10 * 1024 * MiB)).toBe("10 GB");
  });

  it("are checked before uploading: empty and too large files never leave", () => {
    expect(checkFile({ name: "a.png", size: 10 })).toBeNull();
    expect(checkFile({ name: "a.png", size: DEFAULT_MAX_BYTES })).toBeNull();
    expect(checkFile({ name: "big.mov", size: DEFAULT_MAX_BYTES + 1 })).toBe("“big.mov” is 25 MB; files can be at most 25 MB.");
    expect(checkFile({ name: "huge.mov", size: 30 * MiB })).toBe("“huge.mov” is 30 MB; files can be at most 25 MB.");
    expect(checkFile({ name: "e.txt", size: 0 })).toBe("“e.txt” is empty.");
  });
});

describe("refused uploads", () => {
  it("say why, from the problem+json body", () => {
    expect(uploadErrorMessage("a.bin", 413, { type: `${P}payload-too-large`, max_bytes: 10 * MiB }))
      .toBe("“a.bin” is too large: files can be at most 10 MB.");
    expect(uploadErrorMessage("a.bin", 413, { type: `${P}quota-exceeded`, used_bytes: 9 * MiB, quota_bytes: 10 * MiB }))
      .toBe("“a.bin” does not fit in this workspace's storage (1 MB of 10 MB left). Delete attachments to make room.");
    expect(uploadErrorMessage("e.txt", 422, { type: `${P}empty-file`, detail: "The file is empty." })).toBe("“e.txt” is empty.");
    expect(uploadErrorMessage("a.bin", 422, { type: `${P}invalid-input`, detail: "Send one file." })).toBe("“a.bin” was not uploaded: Send one file.");
    expect(uploadErrorMessage("a.bin", 415, { type: `${P}unsupported-media-type`, detail: "Use multipart/form-data." }))
      .toContain("Use multipart/form-data.");
    expect(uploadErrorMessage("a.bin", 403, { type: `${P}forbidden` })).toBe("You may not attach files to this card.");
    expect(uploadErrorMessage("a.bin", 0, null)).toContain("could not be reached");
    expect(uploadErrorMessage("a.bin", 500, null)).toBe("“a.bin” was not uploaded: the server answered 500");
  });

  it("covers are for images with a preview only", () => {
    expect(isCoverable({ content_type: "image/png", has_thumbnail: true })).toBe(true);
    expect(isCoverable({ content_type: "image/svg+xml", has_thumbnail: false })).toBe(false);
    expect(isCoverable({ content_type: "application/pdf", has_thumbnail: false })).toBe(false);
  });
});

class FakeXhr {
  static answer: { status: number; body: string; token?: string } | "network" = { status: 201, body: "{}" };
  static sent: { url: string; body: FormData; headers: Record<string, string> }[] = [];
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  status = 0;
  responseText = "";
  private url = "";
  private headers: Record<string, string> = {};
  open(_method: string, url: string) { this.url = url; }
  setRequestHeader(k: string, v: string) { this.headers[k] = v; }
  getResponseHeader(k: string) { return k === "X-Orbitask-Token" && FakeXhr.answer !== "network" ? FakeXhr.answer.token ?? null : null; }
  abort() { this.onabort?.(); }
  send(body: FormData) {
    FakeXhr.sent.push({ url: this.url, body, headers: this.headers });
    const answer = FakeXhr.answer;
    queueMicrotask(() => {
      this.upload.onprogress?.({ loaded: 50, total: 100, lengthComputable: true } as ProgressEvent);
      this.upload.onprogress?.({ loaded: 100, total: 100, lengthComputable: true } as ProgressEvent);
      if (answer === "network") return this.onerror?.();
      this.status = answer.status;
      this.responseText = answer.body;
      this.onload?.();
    });
  }
}

describe("uploading", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    FakeXhr.sent = [];
  });

  it("posts the file as multipart field `file`, reports progress, and answers the attachment", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    FakeXhr.answer = { status: 201, body: JSON.stringify({ id: "a1", filename: "shot.png" }), token: "t1" };
    const progress: number[] = [];
    const out = await uploadAttachment("c/1", new File(["png!"], "shot.png", { type: "image/png" }), {
      onProgress: (loaded, total) => progress.push(loaded / total),
    });
    expect(out).toMatchObject({ id: "a1", filename: "shot.png" });
    expect(progress).toEqual([0.5, 1]);
    expect(FakeXhr.sent[0].url).toBe("/api/v1/cards/c%2F1/attachments");
    const sent = FakeXhr.sent[0].body.get("file") as File;
    expect(sent.name).toBe("shot.png");
    expect(await sent.text()).toBe("png!");
  });

  it("refuses a file over the limit without sending it", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    const big = { name: "big.bin", size: DEFAULT_MAX_BYTES + 1 } as File;
    await expect(uploadAttachment("c1", big)).rejects.toThrow("files can be at most 25 MB");
    expect(FakeXhr.sent).toEqual([]);
  });

  it("turns a 413 into a message and learns the server's smaller limit", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    FakeXhr.answer = { status: 413, body: JSON.stringify({ type: `${P}payload-too-large`, max_bytes: 4 * MiB }) };
    const err = await uploadAttachment("c1", new File(["x".repeat(10)], "a.bin")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UploadError);
    expect((err as UploadError).status).toBe(413);
    expect((err as UploadError).message).toBe("“a.bin” is too large: files can be at most 4 MB.");
    expect(maxUploadBytes()).toBe(4 * MiB);
    expect(checkFile({ name: "b.bin", size: 5 * MiB })).toContain("at most 4 MB");
  });

  it("says so when the network fails", async () => {
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
    FakeXhr.answer = "network";
    await expect(uploadAttachment("c1", new File(["x"], "a.bin"))).rejects.toThrow("could not be reached");
  });
});
