// Downloads of selections as ZIP with a progress toast in the uploads' stack: bytes, speed,
// completion or the error. The browser itself saves the file (a hidden iframe navigates to
// the streamed archive), so nothing is buffered in page memory whatever the size; the page
// chose the download's progress token (?progress=<uuid>) and polls /api/v1/operations/<uuid>,
// which the server updates while it streams. See docs/portal.md ("Downloads").
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const t = (key) => ($("#i18n-downloads") && $("#i18n-downloads").dataset[key]) || key;
  const POLL_MS = 700;
  const START_TIMEOUT_MS = 120000; // a huge selection takes a while to list before the first byte

  function uuid4() { // crypto.randomUUID needs a secure context; getRandomValues does not
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function fmtBytes(n) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let v = n, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
    return v.toFixed(u ? 1 : 0) + " " + units[u];
  }

  function makeToast(name) {
    const el = document.createElement("div");
    el.className = "toast show sf-upload sf-download";
    el.setAttribute("role", "status");
    el.innerHTML = '<div class="toast-body"><div class="d-flex align-items-center gap-2"><i class="bi bi-file-zip"></i><span class="spinner-border spinner-border-sm"></span><b class="text-break me-auto sf-up-name"></b>' +
      '<button type="button" class="btn-close btn-close-sm" data-dismiss-download></button></div>' +
      '<div class="progress mt-1" role="progressbar"><div class="progress-bar progress-bar-striped progress-bar-animated" style="width:100%"></div></div><div class="small sf-up-status"></div></div>';
    $(".sf-up-name", el).textContent = name;
    $("[data-dismiss-download]", el).title = t("dismiss");
    $("[data-dismiss-download]", el).setAttribute("aria-label", t("dismiss"));
    $(".sf-up-status", el).textContent = t("preparing");
    $("#toasts").appendChild(el);
    return el;
  }

  function start(url, name) {
    const token = uuid4();
    const el = makeToast(name || "download.zip");
    const bar = $(".progress-bar", el);
    const status = $(".sf-up-status", el);
    const frame = document.createElement("iframe");
    frame.hidden = true;
    frame.title = name || "download";
    let finished = false;
    let first = null; // {at, done}: the speed is measured from the first progress seen
    const began = Date.now();

    function end(kind, text) {
      if (finished) return;
      finished = true;
      const icon = document.createElement("i");
      icon.className = kind === "failed" ? "bi bi-x-circle" : "bi bi-check-circle text-success";
      $(".spinner-border", el)?.replaceWith(icon);
      bar.classList.remove("progress-bar-animated", "progress-bar-striped");
      status.textContent = text;
      el.dataset.state = kind;
      if (kind === "failed") {
        el.classList.add("text-bg-danger");
      } else {
        bar.style.width = "100%";
        setTimeout(() => el.remove(), 6000);
      }
      setTimeout(() => frame.remove(), 60000); // the browser has the download by then
    }

    // A saved attachment fires no load event; an error answer (JSON from the API) does, but
    // the API forbids framing (X-Frame-Options), so the page cannot read it there: ask again
    // with fetch for the reason (an error answers at once; anything else is cancelled).
    frame.addEventListener("load", async () => {
      if (finished) return;
      let detail = "";
      try {
        const abort = new AbortController();
        const response = await fetch(url, { credentials: "same-origin", signal: abort.signal });
        if (response.ok) { abort.abort(); return; }
        const text = await response.text();
        try { detail = JSON.parse(text).detail || ""; } catch (e) { detail = text.slice(0, 300); }
        detail = detail || response.statusText;
      } catch (e) { detail = t("notStarted"); }
      end("failed", t("failed") + ": " + detail);
    });

    async function poll() {
      if (finished) return;
      let op = null;
      try {
        const response = await fetch("/api/v1/operations/" + token, { credentials: "same-origin" });
        if (response.ok) op = await response.json();
      } catch (e) { /* the next round asks again */ }
      if (finished) return;
      if (!op) {
        if (Date.now() - began > START_TIMEOUT_MS) end("failed", t("failed") + ": " + t("notStarted"));
        else setTimeout(poll, POLL_MS);
        return;
      }
      const now = Date.now();
      if (!first) first = { at: now, done: op.done };
      const seconds = (now - first.at) / 1000;
      const rate = seconds > 0.2 ? (op.done - first.done) / seconds : 0;
      const pct = op.total ? Math.min(100, Math.floor((op.done / op.total) * 100)) : 100;
      bar.classList.remove("progress-bar-animated", "progress-bar-striped");
      bar.style.width = pct + "%";
      const sizes = fmtBytes(op.done) + " / " + fmtBytes(op.total);
      if (op.status === "done") {
        const total = Math.max(0.001, (Date.now() - began) / 1000);
        end("done", sizes + " · " + fmtBytes(op.total / total) + "/s · " + t("done"));
      } else if (op.status === "failed") {
        end("failed", t("failed") + ": " + (op.error || ""));
      } else {
        status.textContent = pct + " % · " + sizes + (rate > 0 ? " · " + fmtBytes(rate) + "/s" : "");
        setTimeout(poll, POLL_MS);
      }
    }

    frame.src = url + (url.includes("?") ? "&" : "?") + "progress=" + token;
    document.body.appendChild(frame);
    setTimeout(poll, 300);
    return token;
  }
  window.sinfoniaDownload = start;

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("click", (e) => {
      const dismiss = e.target.closest("[data-dismiss-download]");
      if (dismiss) { dismiss.closest(".sf-download").remove(); return; }
      const link = e.target.closest("a[data-download-toast]");
      if (!link || link.getAttribute("href") === "#") return;
      e.preventDefault();
      start(link.href, link.dataset.downloadName);
      const modal = link.closest(".modal");
      if (modal && window.bootstrap) bootstrap.Modal.getOrCreateInstance(modal).hide();
    });
  });
})();
