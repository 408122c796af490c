// The sign-in page: the key and secret go to the server once, over this origin, in a request
// only this script can make (the X-Nuvem-Console header); the answer's page token is kept in
// this tab's sessionStorage and sent with every API call.
"use strict";
document.getElementById("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("signin-error");
  error.textContent = "";
  const body = JSON.stringify({
    accessKeyId: document.getElementById("access-key").value.trim(),
    secretAccessKey: document.getElementById("secret-key").value,
  });
  let r;
  try {
    r = await fetch("/_nuvem/console/signin", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Nuvem-Console": "signin" },
      body,
      credentials: "same-origin",
    });
  } catch (e) {
    error.textContent = "nuvem did not answer: " + e;
    return;
  }
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) {
    error.textContent = answer.message || "Sign-in refused (" + r.status + ")";
    return;
  }
  sessionStorage.setItem("nuvem-console-session", answer.session);
  sessionStorage.setItem("nuvem-console-key", answer.accessKeyId);
  location.replace("/_nuvem/console/#/overview");
});
