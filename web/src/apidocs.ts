// The API docs page (/api/docs, api-docs.html): Swagger UI from our own build, started here rather than by an
// inline script, so the page runs under the web app's CSP (script-src 'self'). A separate Vite entry: none of
// it is in the app's bundle. Swagger UI's prebuilt bundle is copied as it is (hashed), not rebundled.
import bundle from "swagger-ui-dist/swagger-ui-bundle.js?url";
import "swagger-ui-dist/swagger-ui.css";

declare global {
  interface Window {
    SwaggerUIBundle: ((options: object) => unknown) & { presets: { apis: unknown } };
  }
}

const script = document.createElement("script");
script.src = bundle;
script.addEventListener("load", () => {
  const { SwaggerUIBundle } = window;
  SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // The default badge sends the schema's address to validator.swagger.io: this page talks to its own origin only.
    validatorUrl: null,
  });
});
document.head.append(script);
