// meusite's browser code: talks to the API through the edge (/api/...), uploads files straight
// to the media bucket with a presigned PUT URL, and shows media through the edge (/media/...).
"use strict";
const Meusite = (() => {
  const $ = (sel) => document.querySelector(sel);

  async function api(path, options = {}) {
    const resp = await fetch("/api" + path, {
      ...options,
      headers: { "content-type": "application/json", ...(options.headers || {}) },
    });
    const text = await resp.text();
    const body = text ? JSON.parse(text) : null;
    if (!resp.ok) throw new Error((body && body.message) || resp.statusText);
    return body;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "onclick") node.addEventListener("click", v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  function isImage(item) { return (item.contentType || "").startsWith("image/"); }
  function isVideo(item) { return (item.contentType || "").startsWith("video/"); }

  function likeButton(item, onLiked) {
    const btn = el("button", { class: "like", "data-id": item.id, "aria-label": "like " + item.title }, "♥ " + item.likes);
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try {
        const r = await api("/items/" + encodeURIComponent(item.id) + "/like", { method: "POST", body: "{}" });
        item.likes = r.likes;
        btn.textContent = "♥ " + r.likes;
        if (onLiked) onLiked(r);
      } finally {
        btn.disabled = false;
      }
    });
    return btn;
  }

  function tile(item) {
    const thumb = el("a", { class: "thumb", href: "/item.html?id=" + encodeURIComponent(item.id) });
    if (isImage(item)) thumb.style.backgroundImage = "url('" + item.url + "')";
    else thumb.textContent = isVideo(item) ? "🎬" : "📄";
    const title = el("a", { class: "title", href: "/item.html?id=" + encodeURIComponent(item.id) }, item.title);
    return el("li", { class: "tile", "data-id": item.id }, thumb, el("div", { class: "meta" }, title, likeButton(item)));
  }

  async function refresh() {
    const { items } = await api("/items");
    const list = $("#gallery");
    list.replaceChildren(...items.map(tile));
    $("#empty").hidden = items.length > 0;
    $("#count").textContent = items.length ? "(" + items.length + ")" : "";
  }

  async function upload(event) {
    event.preventDefault();
    const file = $("#file").files[0];
    const title = $("#title").value.trim();
    if (!file || !title) return;
    const status = $("#upload-status");
    const button = $("#upload-button");
    button.disabled = true;
    try {
      status.textContent = "Preparing upload…";
      const contentType = file.type || "application/octet-stream";
      const ticket = await api("/uploads", {
        method: "POST",
        body: JSON.stringify({ title, filename: file.name, contentType, size: file.size }),
      });
      status.textContent = "Uploading " + file.name + "…";
      const put = await fetch(ticket.uploadUrl, { method: "PUT", headers: { "content-type": contentType }, body: file });
      if (!put.ok) throw new Error("the bucket refused the upload (" + put.status + ")");
      status.textContent = "Uploaded “" + title + "”.";
      event.target.reset();
      await refresh();
    } catch (e) {
      status.textContent = "Upload failed: " + e.message;
    } finally {
      button.disabled = false;
    }
  }

  async function gallery() {
    $("#upload-form").addEventListener("submit", upload);
    try {
      await refresh();
    } catch (e) {
      $("#empty").hidden = false;
      $("#empty").textContent = "Could not load the gallery: " + e.message;
    }
  }

  async function detail(id) {
    const box = $("#detail");
    try {
      const item = await api("/items/" + encodeURIComponent(id || ""));
      document.title = "meusite — " + item.title;
      const media = isImage(item)
        ? el("img", { src: item.url, alt: item.title })
        : isVideo(item)
          ? el("video", { src: item.url, controls: "" })
          : el("a", { href: item.url }, "Download " + (item.filename || "file"));
      const when = new Date(item.created * 1000).toLocaleString();
      box.replaceChildren(el("h1", {}, item.title), media, el("p", {}, "Uploaded " + when + " · ", likeButton(item)));
    } catch (e) {
      box.replaceChildren(el("p", {}, "Could not load this item: " + e.message));
    }
  }

  return { gallery, detail };
})();
