// The API reference page (/api/docs): Swagger UI, rendering the document named by the
// page's #swagger-ui[data-url].
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
  });
});
