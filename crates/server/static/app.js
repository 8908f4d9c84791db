// Tenantry console: a little progressive JavaScript. Pages and forms work without it, except the
// two things a plain form cannot do: read the activation token from the link's #fragment (which
// never reaches the server), and send a logo's bytes to the API as they are.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const activation = document.querySelector("form[data-activation]");
  if (activation) {
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (token && !activation.querySelector("#token").value) activation.querySelector("#token").value = token;
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => { if (!confirm(form.dataset.confirm)) e.preventDefault(); });
  }
  for (const form of document.querySelectorAll("form[data-logo]")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      if (!file) return;
      const csrf = form.querySelector("input[name=csrf_token]").value;
      const reply = await fetch(form.dataset.logo, { method: "PUT", body: file, credentials: "same-origin",
        headers: { "content-type": file.type || "application/octet-stream", "x-csrf-token": csrf } });
      if (reply.ok) { location.assign(location.pathname + "?done=saved"); return; }
      const problem = await reply.json().catch(() => ({ detail: "upload failed" }));
      alert(problem.detail || "upload failed");
    });
  }
});
