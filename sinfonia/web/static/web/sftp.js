// The SFTP page (the staging area: pick, import, delete; "How to connect") and the folder
// page's "Send to SFTP space". No inline scripts or handlers: everything is delegated here;
// the work itself is done by the REST API (/api/v1/sftp/...), long work as an operation.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const t = (key) => {
    const box = $("#sftp-i18n") || $("#i18n");
    return (box && box.dataset[key]) || key;
  };
  const modal = (sel) => bootstrap.Modal.getOrCreateInstance($(sel));

  // REST calls and toasts: portal.js's (loaded before this script).
  const api = (method, path, body) => window.sinfonia.api(method, path, body);
  const toast = (text, kind, link) =>
    window.sinfonia.toast(text, kind, link ? { href: link, text: t("open") } : undefined);

  async function defaultName(kind) {
    const response = await fetch("/sftp/default-name/?kind=" + kind, { credentials: "same-origin" });
    return (await response.json()).name;
  }

  // --- a background operation followed in a toast until it ends -------------------------------
  function fmtBytes(n) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let v = n, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
    return v.toFixed(u ? 1 : 0) + " " + units[u];
  }
  function follow(op, title, onDone) {
    const el = document.createElement("div");
    el.className = "toast show sf-upload sf-op";
    el.setAttribute("role", "status");
    el.dataset.operation = op.id;
    el.innerHTML = '<div class="toast-body"><div class="d-flex align-items-center gap-2"><span class="spinner-border spinner-border-sm"></span><b class="text-break sf-op-title"></b></div>' +
      '<div class="progress mt-1" role="progressbar"><div class="progress-bar"></div></div><div class="small sf-op-status"></div></div>';
    $(".sf-op-title", el).textContent = title;
    $("#toasts").appendChild(el);
    const show = (data) => {
      const pct = data.total ? Math.floor((data.done / data.total) * 100) : 0;
      $(".progress-bar", el).style.width = pct + "%";
      $(".sf-op-status", el).textContent = pct + " % · " + fmtBytes(data.done) + " / " + fmtBytes(data.total);
    };
    const poll = async () => {
      let data;
      try { data = await api("GET", "/operations/" + op.id); } catch (err) { setTimeout(poll, 2000); return; }
      show(data);
      if (data.status === "done") {
        el.remove();
        onDone(data.result || {});
      } else if (data.status === "failed") {
        el.remove();
        toast(title + ": " + t("failed") + ": " + (data.error || data.message), "danger");
      } else {
        setTimeout(poll, 700);
      }
    };
    show(op);
    setTimeout(poll, 300);
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) { // not a secure context: the old way
      const area = document.createElement("textarea");
      area.value = text;
      area.className = "position-fixed opacity-0";
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(t("copied") + ": " + text, "success");
  }

  // --- picked staging entries (sessionStorage: survive folder changes, end with the tab) -------
  const KEY = "sinfonia.staging-picked";
  const stage = {
    all() { try { return JSON.parse(sessionStorage.getItem(KEY) || "{}"); } catch (e) { return {}; } },
    save(map) { sessionStorage.setItem(KEY, JSON.stringify(map)); refresh(); },
    add(row) { const m = stage.all(); m[row.dataset.path] = { name: row.dataset.name, dir: row.dataset.dir === "1" }; stage.save(m); },
    remove(path) { const m = stage.all(); delete m[path]; stage.save(m); },
    clear() { stage.save({}); },
    paths() { return Object.keys(stage.all()); },
  };

  function refresh() {
    if (!$("#sftp-page")) return;
    const map = stage.all();
    const rows = $$("tr.sf-stage-row");
    rows.forEach((row) => { $(".sf-stage-pick", row).checked = row.dataset.path in map; });
    const n = Object.keys(map).length;
    const button = $("#staging-picked");
    button.textContent = n + " " + t("picked") + " ✕";
    button.classList.toggle("d-none", n === 0);
    $("#btn-import").disabled = n === 0;
    $("#btn-delete-picked").disabled = n === 0;
    $("#staging-select-all").checked = rows.length > 0 && rows.every((r) => r.dataset.path in map);
  }

  async function deletePaths(paths) {
    if (!paths.length || !window.confirm(t("confirmDelete"))) return;
    try {
      await api("POST", "/sftp/delete", { paths });
      const map = stage.all();
      paths.forEach((p) => { Object.keys(map).forEach((k) => { if (k === p || k.startsWith(p + "/")) delete map[k]; }); });
      stage.save(map);
      window.location.reload();
    } catch (err) { toast(err.message, "danger"); }
  }

  // --- import dialog: destination browser, default folder name, project identifier --------------
  let scheme = null;
  let destination = null;
  function loadDestinations(nodeId) {
    destination = null;
    $("#import-start").disabled = true;
    $("#dest-chosen").textContent = "—";
    htmx.ajax("GET", "/sftp/destinations/" + (nodeId ? "?node=" + nodeId : ""), { target: "#dest-browser", swap: "innerHTML" });
  }
  function onDestinationsLoaded() {
    const here = $("#dest-here");
    if (!here) return;
    if (here.dataset.nodeId && here.dataset.mayWrite === "1") {
      destination = Number(here.dataset.nodeId);
      $("#dest-chosen").textContent = here.dataset.path;
      $("#import-start").disabled = false;
    }
    const filter = $("#dest-filter");
    if (filter) filter.addEventListener("input", () => {
      const q = filter.value.trim().toLowerCase();
      $$(".sf-dest-choice").forEach((a) => a.classList.toggle("d-none", !!q && !a.dataset.name.includes(q)));
    });
  }
  async function idFields() {
    if (!scheme) {
      try { scheme = await api("GET", "/sinfonia-ids/scheme"); } catch (e) { scheme = { general: [] }; }
    }
    const general = $("#import-id-general");
    general.replaceChildren();
    (scheme.general || []).forEach((c) => {
      const col = document.createElement("div");
      col.className = "col";
      const input = document.createElement("input");
      input.className = "form-control form-control-sm";
      input.name = "id-" + c.key;
      input.placeholder = c.label || c.key;
      input.title = (c.label || c.key) + (c.pattern ? " (" + c.pattern + ")" : "");
      input.setAttribute("aria-label", c.label || c.key);
      col.appendChild(input);
      general.appendChild(col);
    });
    $("#import-id-example").textContent = scheme.example ? "e.g. " + scheme.example : "";
  }
  function projectId() {
    const parts = $$("#import-id-general input").map((i) => i.value.trim()).filter((v) => v);
    const specific = $("#import-id-specific").value.trim();
    if (!parts.length && !specific) return null;
    const text = parts.join(scheme.separator || "-");
    return specific ? text + (scheme.specific_separator || "_") + specific : text;
  }
  async function openImport() {
    const map = stage.all();
    $("#import-picked").textContent = Object.keys(map).join(", ");
    $("#import-error").classList.add("d-none");
    $("#form-import").reset();
    loadDestinations(null);
    await idFields();
    $("#import-name").value = await defaultName("upload");
    modal("#dlg-import").show();
  }
  async function startImport(event) {
    event.preventDefault();
    if (!destination) return;
    const body = {
      paths: stage.paths(),
      destination_id: destination,
      folder_name: $("#import-name").value.trim() || null,
      sinfonia_id: projectId(),
      remove_after: $("#import-remove").checked,
    };
    let op;
    try { op = await api("POST", "/sftp/import", body); } catch (err) {
      $("#import-error").textContent = err.message;
      $("#import-error").classList.remove("d-none");
      return;
    }
    modal("#dlg-import").hide();
    stage.clear();
    follow(op, t("importing") + " → " + $("#dest-chosen").textContent, (result) => {
      const skipped = (result.skipped || []).length;
      toast((result.path || "") + ": " + t("done") + (skipped ? " (" + skipped + " " + t("skipped") + ")" : ""),
        skipped ? "warning" : "success", result.folder_id ? "/r/" + result.folder_id + "/" : null);
      if (body.remove_after) setTimeout(() => window.location.reload(), 1500);
    });
  }

  // --- folder page: "Send to SFTP space" from the picked elements dialog ----------------------------
  function repositoryPicks() {
    try { return Object.keys(JSON.parse(sessionStorage.getItem("sinfonia.picked") || "{}")).map(Number); } catch (e) { return []; }
  }
  async function openToSftp() {
    $("#to-sftp-error").classList.add("d-none");
    $("#to-sftp-count").textContent = String(repositoryPicks().length);
    $("#to-sftp-name").value = await defaultName("download");
    modal("#dlg-picked").hide();
    modal("#dlg-to-sftp").show();
  }
  async function startToSftp(event) {
    event.preventDefault();
    const sources = repositoryPicks();
    let op;
    try {
      op = await api("POST", "/sftp/export", { sources, folder_name: $("#to-sftp-name").value.trim() || null });
    } catch (err) {
      $("#to-sftp-error").textContent = err.message;
      $("#to-sftp-error").classList.remove("d-none");
      return;
    }
    modal("#dlg-to-sftp").hide();
    follow(op, t("sending"), (result) => {
      toast((result.path || "") + ": " + t("done"), "success", "/sftp/?path=" + encodeURIComponent(result.folder || ""));
    });
  }

  // --- one delegated click handler ---------------------------------------------------------------
  async function onClick(event) {
    const el = event.target.closest("[data-action]");
    if (!el) return;
    const row = el.closest("tr.sf-stage-row");
    switch (el.dataset.action) {
      case "sftp-select-all": $$("tr.sf-stage-row").forEach((r) => (el.checked ? stage.add(r) : stage.remove(r.dataset.path))); break;
      case "sftp-clear-picked": stage.clear(); break;
      case "sftp-delete": await deletePaths([row.dataset.path]); break;
      case "sftp-delete-picked": await deletePaths(stage.paths()); break;
      case "sftp-import": await openImport(); break;
      case "sftp-dest": event.preventDefault(); loadDestinations(el.dataset.nodeId ? Number(el.dataset.nodeId) : null); break;
      case "sftp-connect": modal("#dlg-connect").show(); break;
      case "sftp-copy": await copyText($(el.dataset.copyTarget).textContent.trim()); break;
      case "picked-to-sftp": await openToSftp(); break;
      default: break;
    }
  }
  function onChange(event) {
    if (event.target.classList.contains("sf-stage-pick")) {
      const row = event.target.closest("tr.sf-stage-row");
      if (event.target.checked) stage.add(row); else stage.remove(row.dataset.path);
    } else if (event.target.dataset.action === "sftp-page-size") {
      event.target.form.submit();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("click", onClick);
    document.addEventListener("change", onChange);
    $$(".progress-bar[data-width]").forEach((bar) => { bar.style.width = bar.dataset.width + "%"; });
    if ($("#form-import")) $("#form-import").addEventListener("submit", startImport);
    if ($("#form-to-sftp")) $("#form-to-sftp").addEventListener("submit", startToSftp);
    document.body.addEventListener("htmx:afterSwap", (e) => { if (e.target.id === "dest-browser") onDestinationsLoaded(); });
    refresh();
    document.documentElement.dataset.sftpReady = "1";
  });
})();
