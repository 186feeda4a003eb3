// The Sinfonia portal's behaviour: no inline scripts or handlers anywhere (CSP-friendly);
// every control carries data-action and is handled by delegation here.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => $('meta[name="csrf-token"]').content;
  const t = (key) => ($("#i18n") && $("#i18n").dataset[key]) || key;
  const page = () => $("#node-page");
  const nodeId = () => (page() ? Number(page().dataset.nodeId) : null);

  // --- REST calls with the session cookie and the CSRF token ------------------------------
  async function api(method, path, body) {
    const response = await fetch("/api/v1" + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      throw new Error((data && data.detail) || response.statusText);
    }
    return data;
  }

  // --- toasts (link: {href, text}, an optional link after the text; such a toast stays longer) -
  function toast(text, kind, link) {
    const el = document.createElement("div");
    el.className = "toast show align-items-center border-0 text-bg-" + (kind || "secondary");
    el.setAttribute("role", "status");
    const body = document.createElement("div");
    body.className = "d-flex";
    const msg = document.createElement("div");
    msg.className = "toast-body text-break";
    msg.textContent = text;
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.className = "ms-2 link-light fw-semibold sf-op-link";
      a.textContent = link.text;
      msg.appendChild(a);
    }
    body.appendChild(msg);
    el.appendChild(body);
    $("#toasts").appendChild(el);
    setTimeout(() => el.remove(), link ? 15000 : 6000);
    return el;
  }

  // Shared with the page scripts loaded after this one (sftp.js).
  window.sinfonia = { api, toast };

  // --- theme and cookie consent (both in localStorage: no cookie for either) ------------------
  function toggleTheme() {
    const dark = document.documentElement.getAttribute("data-bs-theme") !== "dark";
    document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
    try { localStorage.setItem("sinfonia.theme", dark ? "dark" : "light"); } catch (e) { /* */ }
  }

  const consent = {
    get() {
      try { return JSON.parse(localStorage.getItem("sinfonia.consent") || "null"); } catch (e) { return null; }
    },
    set(optional) {
      localStorage.setItem("sinfonia.consent", JSON.stringify({ essential: true, optional, at: new Date().toISOString() }));
      $("#cookie-banner").classList.add("d-none");
    },
    // Anything non-essential must ask this first: false until the visitor opted in.
    allowed() { const c = consent.get(); return !!(c && c.optional); },
    show() {
      const c = consent.get();
      $("#consent-optional").checked = !!(c && c.optional);
      $("#cookie-banner").classList.remove("d-none");
    },
  };
  window.sinfoniaConsent = consent;

  // --- picked elements (sessionStorage: survives page changes, ends with the tab) ---------------
  const picks = {
    all() { try { return JSON.parse(sessionStorage.getItem("sinfonia.picked") || "{}"); } catch (e) { return {}; } },
    save(map) { sessionStorage.setItem("sinfonia.picked", JSON.stringify(map)); refreshPicks(); },
    add(row) { const m = picks.all(); m[row.dataset.id] = { name: row.dataset.name, kind: row.dataset.kind }; picks.save(m); },
    remove(id) { const m = picks.all(); delete m[id]; picks.save(m); },
    clear() { picks.save({}); },
    ids() { return Object.keys(picks.all()).map(Number); },
  };

  function refreshPicks() {
    const map = picks.all();
    $$("tr.sf-row").forEach((row) => { const box = $(".sf-pick", row); if (box) box.checked = row.dataset.id in map; });
    const button = $("#picked-summary");
    if (!button) return;
    const counts = {};
    Object.values(map).forEach((p) => { counts[p.kind] = (counts[p.kind] || 0) + 1; });
    const parts = Object.entries(counts).map(([k, n]) => n + " " + k + (n > 1 ? "s" : ""));
    button.textContent = parts.length ? parts.join(", ") + " " + t("picked") : "";
    button.classList.toggle("d-none", parts.length === 0);
    const all = $("#select-all");
    const rows = $$("tr.sf-row");
    if (all) all.checked = rows.length > 0 && rows.every((r) => r.dataset.id in map);
  }

  function showPicked() {
    const list = $("#picked-list");
    list.replaceChildren();
    const groups = { collection: [], folder: [], fileset: [], file: [] };
    Object.entries(picks.all()).forEach(([id, p]) => (groups[p.kind] || groups.file).push([id, p]));
    const titles = { collection: t("collections"), folder: t("folders"), fileset: t("filesets"), file: t("files") };
    Object.entries(groups).forEach(([kind, items]) => {
      if (!items.length) return;
      const h = document.createElement("h3");
      h.className = "h6 mt-2";
      h.textContent = titles[kind] + " (" + items.length + ")";
      list.appendChild(h);
      const ul = document.createElement("ul");
      ul.className = "list-group list-group-flush";
      items.forEach(([id, p]) => {
        const li = document.createElement("li");
        li.className = "list-group-item d-flex align-items-center py-1";
        const span = document.createElement("span");
        span.className = "me-auto text-break";
        span.textContent = p.name;
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn btn-sm btn-outline-secondary";
        b.dataset.action = "unpick";
        b.dataset.id = id;
        b.title = t("unpick");
        b.innerHTML = '<i class="bi bi-x-lg"></i>';
        li.append(span, b);
        ul.appendChild(li);
      });
      list.appendChild(ul);
    });
    $("#picked-download").href = "/api/v1/archive?name=selection&" + picks.ids().map((i) => "ids=" + i).join("&");
    bootstrap.Modal.getOrCreateInstance($("#dlg-picked")).show();
  }

  function reloadContents() {
    const contents = $("#contents");
    if (contents) htmx.ajax("GET", contents.getAttribute("hx-get"), { target: "#contents" });
  }

  async function transfer(kind, sources, destination) {
    try {
      await api("POST", "/resources/" + kind, { sources, destination_id: destination });
      toast((kind === "copy" ? t("copyHere") : t("moveHere")) + ": " + t("done"), "success");
      return true;
    } catch (err) {
      toast(err.message, "danger");
      return false;
    }
  }

  async function deleteIds(ids) {
    if (!ids.length || !window.confirm(t("confirmDelete"))) return false;
    try {
      await api("POST", "/resources/delete", { ids });
      ids.forEach((id) => picks.remove(String(id)));
      reloadContents();
      return true;
    } catch (err) { toast(err.message, "danger"); return false; }
  }

  // --- context menu --------------------------------------------------------------------------
  function menuItem(label, icon, handler) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "dropdown-item";
    b.innerHTML = '<i class="bi bi-' + icon + '"></i> ';
    b.appendChild(document.createTextNode(label));
    b.addEventListener("click", () => { hideMenu(); handler(); });
    li.appendChild(b);
    return li;
  }
  function hideMenu() { const m = $("#context-menu"); if (m) m.classList.remove("show"); }
  function showMenu(event, items) {
    const menu = $("#context-menu");
    menu.replaceChildren(...items);
    menu.style.left = event.pageX + "px";
    menu.style.top = event.pageY + "px";
    menu.classList.add("show");
  }

  function onContextMenu(event) {
    if (!page() || !event.target.closest("#main")) return;
    const row = event.target.closest("tr.sf-row");
    const items = [];
    if (row) {
      const id = Number(row.dataset.id);
      items.push(menuItem(t("open"), "box-arrow-up-right", () => openRow(row)));
      items.push(menuItem(t("download"), "download", () => download(row)));
      if (page().dataset.mayWrite === "1") items.push(menuItem(t("delete"), "trash3", () => deleteIds([id])));
    }
    const ids = picks.ids();
    if (ids.length && page().dataset.mayWrite === "1") {
      const dest = nodeId();
      items.push(menuItem(t("copyHere"), "files", async () => { if (await transfer("copy", ids, dest)) { picks.clear(); reloadContents(); } }));
      items.push(menuItem(t("moveHere"), "arrow-right-square", async () => { if (await transfer("move", ids, dest)) { picks.clear(); reloadContents(); } }));
    }
    if (ids.length) items.push(menuItem(t("clear"), "x-circle", () => picks.clear()));
    if (!items.length) return;
    event.preventDefault();
    showMenu(event, items);
  }

  function download(row) { // a ZIP of a container gets a progress toast (downloads.js)
    if (row.dataset.kind !== "file" && window.sinfoniaDownload) window.sinfoniaDownload(downloadUrl(row), row.dataset.name + ".zip");
    else window.location.href = downloadUrl(row);
  }
  function downloadUrl(row) {
    return row.dataset.kind === "file" ? "/api/v1/files/" + row.dataset.id + "/download" : "/api/v1/archive?ids=" + row.dataset.id;
  }
  function openRow(row) {
    if (row.dataset.kind === "file") preview(row.dataset.id);
    else window.location.href = "/r/" + row.dataset.id + "/";
  }

  // --- drag and drop: rows onto a folder/fileset row or the parent link ------------------------------
  let dragged = null;
  function validDrop(target) {
    if (!dragged || !target) return false;
    const id = target.dataset.dropId;
    if (!id || id === dragged.id) return false;
    const kind = target.dataset.kind || "folder"; // the parent link is a container
    if (kind === "fileset") return dragged.kind === "file";
    return dragged.kind !== "collection";
  }
  function onDragStart(event) {
    const row = event.target.closest && event.target.closest("tr.sf-row");
    if (!row || row.getAttribute("draggable") !== "true") return;
    dragged = { id: row.dataset.id, kind: row.dataset.kind };
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", row.dataset.name);
  }
  function onDragOver(event) {
    const target = event.target.closest && event.target.closest("[data-drop-id]");
    $$(".sf-drop-ok").forEach((el) => { if (el !== target) el.classList.remove("sf-drop-ok"); });
    if (!validDrop(target)) return;
    event.preventDefault(); // allowed: the browser shows the move cursor
    event.dataTransfer.dropEffect = "move";
    target.classList.add("sf-drop-ok");
  }
  async function onDrop(event) {
    const target = event.target.closest && event.target.closest("[data-drop-id]");
    $$(".sf-drop-ok").forEach((el) => el.classList.remove("sf-drop-ok"));
    if (!validDrop(target)) return;
    event.preventDefault();
    const source = Number(dragged.id);
    dragged = null;
    if (await transfer("move", [source], Number(target.dataset.dropId))) reloadContents();
  }

  // --- previewer -----------------------------------------------------------------------------
  function preview(fileId) {
    const box = $("#previewer");
    if (!box) { window.location.href = "/r/" + fileId + "/"; return; }
    $$("tr.sf-row").forEach((r) => r.classList.toggle("sf-previewed", r.dataset.id === String(fileId)));
    htmx.ajax("GET", "/r/" + fileId + "/preview/", { target: "#previewer", swap: "innerHTML" });
  }

  // --- create / edit dialog with the project identifier's general and specific parts -------------
  let scheme = null;
  let nodeDialog = null; // {mode: "folder"|"fileset"|"collection"|"edit"}
  async function openNodeDialog(mode) {
    nodeDialog = { mode };
    const titles = { folder: t("newFolder"), fileset: t("newFileset"), collection: t("newCollection"), edit: t("edit") };
    $("#dlg-node-title").textContent = titles[mode];
    $("#node-error").classList.add("d-none");
    const form = $("#form-node");
    form.reset();
    if (!scheme) {
      try { scheme = await api("GET", "/sinfonia-ids/scheme"); } catch (e) { scheme = { general: [] }; }
    }
    const general = $("#id-general");
    general.replaceChildren();
    const components = (scheme.general || scheme.components || []);
    components.forEach((c) => {
      const col = document.createElement("div");
      col.className = "col";
      const input = document.createElement("input");
      input.className = "form-control form-control-sm";
      input.name = "id-" + (c.name || c.key);
      input.placeholder = c.label || c.name || c.key;
      input.title = (c.label || c.name || "") + (c.pattern ? " (" + c.pattern + ")" : "");
      if (c.fixed || c.value) input.value = c.fixed || c.value || "";
      col.appendChild(input);
      general.appendChild(col);
    });
    $("#id-example").textContent = scheme.example ? "e.g. " + scheme.example : "";
    if (mode === "edit") {
      const data = await api("GET", "/resources/" + nodeId());
      form.name.value = data.name;
      form.description.value = data.description || "";
      const parts = data.sinfonia_id_parts || {};
      $$("#id-general input").forEach((i) => { const k = i.name.slice(3); if (parts[k] !== undefined) i.value = parts[k]; });
      $("#id-specific").value = parts.specific || "";
    }
    bootstrap.Modal.getOrCreateInstance($("#dlg-node")).show();
  }
  function projectId() {
    const general = {};
    let any = false;
    $$("#id-general input").forEach((i) => { general[i.name.slice(3)] = i.value.trim(); if (i.value.trim() && !i.readOnly) any = true; });
    const specific = $("#id-specific").value.trim();
    if (!any && !specific) return nodeDialog.mode === "edit" ? "" : undefined;
    return { general, specific };
  }
  async function saveNode(event) {
    event.preventDefault();
    const form = $("#form-node");
    const body = { name: form.name.value.trim(), description: form.description.value };
    const pid = projectId();
    if (pid !== undefined) body.sinfonia_id = pid;
    try {
      let target;
      if (nodeDialog.mode === "edit") {
        target = await api("PATCH", "/resources/" + nodeId(), body);
      } else if (nodeDialog.mode === "collection") {
        target = await api("POST", "/collections", body);
      } else {
        target = await api("POST", "/" + nodeDialog.mode + "s", Object.assign({ parent_id: nodeId() }, body));
      }
      window.location.href = "/r/" + target.id + "/";
    } catch (err) {
      $("#node-error").textContent = err.message;
      $("#node-error").classList.remove("d-none");
    }
  }

  // --- permissions dialog ----------------------------------------------------------------------
  let acl = null;
  function aclRow(entry) {
    const tr = document.createElement("tr");
    const who = document.createElement("td");
    who.innerHTML = '<i class="bi bi-' + (entry.group ? "people" : "person") + '"></i> ';
    who.appendChild(document.createTextNode(entry.user || entry.group));
    const lvl = document.createElement("td");
    const sel = document.createElement("select");
    sel.className = "form-select form-select-sm";
    ["read", "write", "admin"].forEach((l) => { const o = new Option(t(l), l, false, entry.level === l); sel.appendChild(o); });
    sel.addEventListener("change", () => { entry.level = sel.value; });
    lvl.appendChild(sel);
    const del = document.createElement("td");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-sm btn-outline-danger";
    b.title = t("remove");
    b.innerHTML = '<i class="bi bi-x-lg"></i>';
    b.addEventListener("click", () => { acl.entries.splice(acl.entries.indexOf(entry), 1); renderAcl(); });
    del.appendChild(b);
    tr.append(who, lvl, del);
    return tr;
  }
  function renderAcl() {
    $("#acl-table tbody").replaceChildren(...acl.entries.map(aclRow));
    $("#acl-public").checked = !!acl.public;
    const inherit = $("#acl-inherit");
    inherit.checked = !!acl.inherit;
    inherit.disabled = page().dataset.nodeKind === "collection";
  }
  async function openAcl() {
    $("#acl-error").classList.add("d-none");
    const data = await api("GET", "/resources/" + nodeId() + "/acl");
    acl = {
      entries: (data.entries || []).map((e) => ({ user: e.user || undefined, group: e.group || undefined, level: e.level })),
      public: data.public,
      inherit: data.inherited === true || data.own === false,
    };
    renderAcl();
    bootstrap.Modal.getOrCreateInstance($("#dlg-acl")).show();
  }
  async function saveAcl(event) {
    event.preventDefault();
    const body = $("#acl-inherit").checked ? { inherit: true }
      : { entries: acl.entries.map((e) => (e.group ? { group: e.group, level: e.level } : { user: e.user, level: e.level })), public: $("#acl-public").checked };
    try {
      await api("PUT", "/resources/" + nodeId() + "/acl", body);
      bootstrap.Modal.getOrCreateInstance($("#dlg-acl")).hide();
      toast(t("done"), "success");
    } catch (err) {
      $("#acl-error").textContent = err.message;
      $("#acl-error").classList.remove("d-none");
    }
  }

  // --- uploads: tus-js-client in the background, a toast per file ---------------------------------
  function openUpload() {
    const fileset = page().dataset.nodeKind === "fileset";
    $("#upload-modes").classList.toggle("d-none", fileset);
    $("#upload-error").classList.add("d-none");
    $("#form-upload").reset();
    bootstrap.Modal.getOrCreateInstance($("#dlg-upload")).show();
  }
  function progressToast(name) {
    const el = document.createElement("div");
    el.className = "toast show sf-upload";
    el.setAttribute("role", "status");
    el.innerHTML = '<div class="toast-body"><div class="d-flex align-items-center gap-2"><span class="spinner-border spinner-border-sm"></span><b class="text-break sf-up-name"></b></div>' +
      '<div class="progress mt-1" role="progressbar"><div class="progress-bar"></div></div><div class="small sf-up-status"></div></div>';
    $(".sf-up-name", el).textContent = name;
    $("#toasts").appendChild(el);
    return el;
  }
  function fmtRate(bytesPerSecond) {
    const units = ["B/s", "KB/s", "MB/s", "GB/s"];
    let v = bytesPerSecond, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
    return v.toFixed(u ? 1 : 0) + " " + units[u];
  }
  async function startUpload(event) {
    event.preventDefault();
    const files = Array.from($("#upload-files").files);
    if (!files.length) return;
    const kind = page().dataset.nodeKind;
    const pack = kind !== "fileset" && $("#mode-pack").checked;
    const filesetName = $("#upload-fileset-name").value.trim();
    if (pack && !filesetName) {
      $("#upload-error").textContent = $("#upload-fileset-name").placeholder + "?";
      $("#upload-error").classList.remove("d-none");
      return;
    }
    let token;
    try { token = (await api("POST", "/upload-tokens")).token; } catch (err) {
      $("#upload-error").textContent = err.message; $("#upload-error").classList.remove("d-none"); return;
    }
    bootstrap.Modal.getOrCreateInstance($("#dlg-upload")).hide();
    const parent = nodeId();
    let left = files.length;
    files.forEach((file) => {
      const el = progressToast(file.name);
      const started = Date.now();
      const metadata = { filename: file.name, parent_id: String(parent), filetype: file.type || "application/octet-stream" };
      if (pack) metadata.fileset = filesetName;
      const upload = new tus.Upload(file, {
        endpoint: "/api/v1/uploads",
        headers: { Authorization: "Bearer " + token },
        chunkSize: 32 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000, 10000],
        metadata,
        removeFingerprintOnSuccess: true,
        onProgress(sent, total) {
          const pct = total ? Math.floor((sent / total) * 100) : 100;
          $(".progress-bar", el).style.width = pct + "%";
          const seconds = Math.max(0.001, (Date.now() - started) / 1000);
          $(".sf-up-status", el).textContent = pct + " % · " + fmtRate(sent / seconds);
        },
        onError(err) {
          el.classList.add("text-bg-danger");
          $(".spinner-border", el).remove();
          $(".sf-up-status", el).textContent = t("failed") + ": " + (err.message || err);
        },
        onSuccess() {
          $(".progress-bar", el).style.width = "100%";
          $(".sf-up-status", el).textContent = "100 % · " + t("done");
          setTimeout(() => el.remove(), 2500);
          left -= 1;
          if (left === 0) reloadContents();
        },
      });
      upload.start();
    });
  }

  // --- one delegated click handler -------------------------------------------------------------
  async function onClick(event) {
    if (!event.target.closest("#context-menu")) hideMenu();
    const el = event.target.closest("[data-action]");
    if (!el) return;
    const action = el.dataset.action;
    const row = el.closest("tr.sf-row");
    switch (action) {
      case "toggle-theme": toggleTheme(); break;
      case "cookie-settings": event.preventDefault(); consent.show(); break;
      case "consent-save": consent.set($("#consent-optional").checked); break;
      case "consent-essential": consent.set(false); break;
      case "preview": event.preventDefault(); preview(row.dataset.id); break;
      case "delete": await deleteIds([Number(row.dataset.id)]); break;
      case "delete-self":
        if (window.confirm(t("confirmDelete"))) {
          try { await api("DELETE", "/resources/" + nodeId()); window.location.href = page().dataset.parentId ? "/r/" + page().dataset.parentId + "/" : "/dashboard/"; } catch (err) { toast(err.message, "danger"); }
        }
        break;
      case "select-all": $$("tr.sf-row").forEach((r) => (el.checked ? picks.add(r) : picks.remove(r.dataset.id))); break;
      case "show-picked": showPicked(); break;
      case "unpick": picks.remove(el.dataset.id); el.closest("li").remove(); break;
      case "clear-picked": picks.clear(); bootstrap.Modal.getOrCreateInstance($("#dlg-picked")).hide(); break;
      case "picked-delete": if (await deleteIds(picks.ids())) bootstrap.Modal.getOrCreateInstance($("#dlg-picked")).hide(); break;
      case "new-folder": openNodeDialog("folder"); break;
      case "new-fileset": openNodeDialog("fileset"); break;
      case "new-collection": openNodeDialog("collection"); break;
      case "edit": openNodeDialog("edit"); break;
      case "permissions": openAcl(); break;
      case "acl-add": {
        const name = $("#acl-new-name").value.trim();
        if (name) { acl.entries.push({ [$("#acl-new-type").value]: name, level: "read" }); $("#acl-new-name").value = ""; renderAcl(); }
        break;
      }
      case "upload": openUpload(); break;
      case "rt-summary": {
        const out = $("#rt-summary");
        out.textContent = JSON.stringify(await api("GET", "/files/" + el.dataset.fileId + "/dicom/summary"), null, 2);
        out.classList.remove("d-none");
        break;
      }
      default: break;
    }
  }
  function onChange(event) {
    if (event.target.classList.contains("sf-pick")) {
      const row = event.target.closest("tr.sf-row");
      if (event.target.checked) picks.add(row); else picks.remove(row.dataset.id);
    }
  }

  function tooltips(root) {
    $$('[data-bs-toggle="tooltip"]', root).forEach((el) => bootstrap.Tooltip.getOrCreateInstance(el, { trigger: "hover" }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("click", onClick);
    document.addEventListener("change", onChange);
    document.addEventListener("contextmenu", onContextMenu);
    document.addEventListener("dragstart", onDragStart);
    document.addEventListener("dragover", onDragOver);
    document.addEventListener("drop", onDrop);
    document.addEventListener("dragend", () => { dragged = null; $$(".sf-drop-ok").forEach((el) => el.classList.remove("sf-drop-ok")); });
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") hideMenu(); });
    if ($("#form-node")) $("#form-node").addEventListener("submit", saveNode);
    if ($("#form-acl")) $("#form-acl").addEventListener("submit", saveAcl);
    if ($("#form-upload")) $("#form-upload").addEventListener("submit", startUpload);
    document.body.addEventListener("htmx:configRequest", (e) => { e.detail.headers["X-CSRFToken"] = csrf(); });
    document.body.addEventListener("htmx:afterSwap", (e) => {
      tooltips(e.target);
      refreshPicks();
      if (e.target.id === "contents" && page() && page().dataset.previewId && !$("#preview-body")) {
        preview(page().dataset.previewId);
      } else if (e.target.id === "contents" && $("#previewer") && !$("#preview-body")) {
        const first = $("tr.sf-row[data-kind=file]");
        if (first) preview(first.dataset.id);
      }
    });
    tooltips(document);
    if (!consent.get()) consent.show();
    document.documentElement.dataset.portalReady = "1";
  });
})();
