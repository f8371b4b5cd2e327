// imagegate's own start-up script for the vendored Swagger UI (kept out of the page: no inline script).
window.onload = function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
};
