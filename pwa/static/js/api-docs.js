// The API docs at /schema: Swagger UI from /static/vendor, started here (the CSP allows no
// inline script). The page says where the OpenAPI document is in data-openapi-url.
"use strict";

const root = document.getElementById("api-docs");

// "Try it out" with a session cookie: a write needs the CSRF token the app set as a cookie.
function csrfToken() {
  const row = document.cookie.split("; ").find((part) => part.startsWith("learnloop_csrf="));
  return row ? decodeURIComponent(row.slice("learnloop_csrf=".length)) : undefined;
}

window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false,
  validatorUrl: null, // the default badge loads an image from validator.swagger.io
  requestInterceptor: (request) => {
    const token = csrfToken();
    if (token && !["GET", "HEAD", "OPTIONS"].includes(request.method)) {
      request.headers["X-CSRF-Token"] = token;
    }
    return request;
  },
});
