/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

// The dev server proxies the API (and its WebSocket) to a local `orbitask serve`.
const api = process.env.ORBITASK_API ?? "http://127.0.0.1:8000";
const page = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const apiDocs = page("api-docs.html");
const EMPTY = "\0orbitask:empty";

// Vite adds its modulepreload polyfill to every page; imported by two pages it would leave the app's bundle for a
// chunk of its own. The API docs page preloads nothing, so it gets an empty module and the app's bundle is as before.
const noPolyfillOnApiDocs: Plugin = {
  name: "orbitask:no-polyfill-on-api-docs",
  enforce: "pre",
  resolveId: {
    filter: { id: /^vite\/modulepreload-polyfill$/ },
    handler: (_id, importer) => (importer?.split("?")[0] === apiDocs ? EMPTY : null),
  },
  load: { filter: { id: new RegExp(`^${EMPTY}$`) }, handler: () => "" },
};

export default defineConfig({
  plugins: [react(), noPolyfillOnApiDocs],
  build: {
    outDir: "dist", sourcemap: true, assetsInlineLimit: 0,
    // Two pages: the app, and the API docs (Swagger UI, served at /api/docs), which share no code.
    rolldownOptions: { input: { index: page("index.html"), "api-docs": apiDocs } },
  },
  server: { proxy: { "/api": { target: api, ws: true } } },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
