// creditbook dashboard: the project's own script. Pages work without it; it only adds a
// "Copy" button beside a newly created key or webhook secret.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const field = document.querySelector("[data-secret]");
  if (!field || !navigator.clipboard) return;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Copy";
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  });
  field.insertAdjacentElement("afterend", button);
  field.addEventListener("focus", () => field.select());
});
