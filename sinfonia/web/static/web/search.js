// The portal's search (docs/portal.md, "Search"): the header's quick search box, the advanced
// dialog that builds a query from criteria, and the results dialog. The server renders the
// results (/search/results/, an htmx partial); this file only writes query text and opens
// dialogs. No inline scripts anywhere: controls carry data-search and are handled here.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const TAG = /^\(?([0-9a-fA-F]{4}),?([0-9a-fA-F]{4})\)?$/;

  // --- query text ------------------------------------------------------------------------------
  // Quote a value when it holds spaces, quotes or (for free text) a colon; inside quotes a
  // backslash and a quote are escaped, as the query language reads them (docs/api.md).
  function quote(value, extra) {
    const special = extra ? /[\s":]/ : /[\s"]/;
    if (!special.test(value)) return value;
    return '"' + value.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  function range(field, from, to) {
    from = from.replace(/\s+/g, "");
    to = to.replace(/\s+/g, "");
    if (from && to) return field + ":" + from + ".." + to;
    if (from) return field + ":>=" + from;
    if (to) return field + ":<=" + to;
    return "";
  }

  function visibleValue(row, cls) {
    const el = $$(cls, row).find((e) => !e.classList.contains("d-none"));
    return el ? el.value.trim() : "";
  }

  // One criterion row as one term of the query ("" when the row is left empty).
  function term(row) {
    const field = $(".sf-adv-field", row).value;
    const v = visibleValue(row, ".sf-adv-v");
    const key = visibleValue(row, ".sf-adv-key").replace(/\s+/g, field === "dicom" ? "" : " ");
    let text = "";
    switch (field) {
      case "text": text = v ? quote(v, true) : ""; break;
      case "name": case "desc": case "id": text = v ? field + ":" + quote(v) : ""; break;
      case "dicom": {
        if (!key) break;
        const tag = key.match(TAG);
        const name = tag ? tag[1] + "," + tag[2] : key;
        if (!v) text = "has:" + name;
        else text = tag ? "tag:" + name + "=" + quote(v) : name + ":" + quote(v);
        break;
      }
      case "meta": if (key) text = v ? "meta." + quote(key) + ":" + quote(v) : "has:meta." + quote(key); break;
      case "type": case "kind": text = v ? field + ":" + v : ""; break;
      case "size": case "created": case "updated":
        text = range(field, visibleValue(row, ".sf-adv-from"), visibleValue(row, ".sf-adv-to"));
        break;
      case "under": if (v) text = "under:" + quote(/^\d+$/.test(v) || v.startsWith("/") ? v : "/" + v); break;
      case "query": return v; // several terms: "not" does not apply
      default: break;
    }
    return text && $(".sf-adv-not", row).checked ? "-" + text : text;
  }

  function built() {
    return $$("#adv-rows .sf-adv-row").map(term).filter(Boolean).join(" ");
  }

  function showQuery() {
    const out = $("#adv-query");
    if (out) out.textContent = built();
  }

  // --- the advanced dialog ---------------------------------------------------------------------
  function tooltips(root) {
    if (!window.bootstrap) return;
    $$('[data-bs-toggle="tooltip"]', root).forEach((el) => bootstrap.Tooltip.getOrCreateInstance(el, { trigger: "hover" }));
  }

  function showInputs(row) {
    const field = $(".sf-adv-field", row).value;
    $$("[data-for]", row).forEach((el) => el.classList.toggle("d-none", !el.dataset.for.split(" ").includes(field)));
    const not = $(".sf-adv-not", row);
    not.disabled = field === "query";
    if (not.disabled) not.checked = false;
  }

  function addRow() {
    const template = $("#adv-row-template");
    if (!template) return null;
    const row = template.content.firstElementChild.cloneNode(true);
    $("#adv-rows").appendChild(row);
    showInputs(row);
    tooltips(row);
    showQuery();
    return row;
  }

  async function loadAdvanced() {
    const body = $("#advanced-body");
    if (body.dataset.loaded === "1") return;
    const response = await fetch(body.dataset.url, { credentials: "same-origin" });
    body.innerHTML = await response.text();
    body.dataset.loaded = "1";
    tooltips(body);
    addRow();
  }

  // The query being looked at (the page's box, else the header's): when the rows do not make
  // it, they start again from it, as one "query text" row the user can add criteria to.
  function startFrom(q) {
    if (!q || q === built()) return;
    $$("#adv-rows .sf-adv-row").forEach((row) => row.remove());
    const row = addRow();
    $(".sf-adv-field", row).value = "query";
    showInputs(row);
    $(".sf-adv-v[data-for=query]", row).value = q;
    addRow();
  }

  async function openAdvanced(q) {
    await loadAdvanced();
    startFrom(q);
    const results = $("#dlg-search");
    const open = () => bootstrap.Modal.getOrCreateInstance($("#dlg-advanced")).show();
    if (results && results.classList.contains("show")) {
      results.addEventListener("hidden.bs.modal", open, { once: true });
      bootstrap.Modal.getOrCreateInstance(results).hide();
    } else {
      open();
    }
  }

  function submitAdvanced(event) {
    event.preventDefault();
    const q = built();
    if (!q) { $(".sf-adv-row input:not(.d-none)") && $(".sf-adv-row input:not(.d-none)").focus(); return; }
    if ($("#search-page")) { window.location.href = "/search/?q=" + encodeURIComponent(q); return; }
    const input = $("#quick-search-input");
    if (input) input.value = q;
    const dialog = $("#dlg-advanced");
    dialog.addEventListener("hidden.bs.modal", () => openResults(q), { once: true });
    bootstrap.Modal.getOrCreateInstance(dialog).hide();
  }

  // --- the results dialog ----------------------------------------------------------------------
  function setShare(path) {
    const url = new URL(path, window.location.origin).href;
    $("#search-share-url").value = url;
    $("#search-open-page").href = url;
  }

  function openResults(q) {
    $("#search-query-shown").textContent = q;
    setShare("/search/?q=" + encodeURIComponent(q));
    $("#search-body").replaceChildren();
    bootstrap.Modal.getOrCreateInstance($("#dlg-search")).show();
    htmx.ajax("GET", "/search/results/?q=" + encodeURIComponent(q), { target: "#search-body", swap: "innerHTML" });
  }

  async function copyLink(button) {
    const input = $("#search-share-url");
    const label = button.dataset.copied || "✓";
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (err) {
      input.select();
      document.execCommand("copy");
    }
    const original = button.innerHTML;
    button.textContent = label;
    setTimeout(() => { button.innerHTML = original; }, 1500);
  }

  function quickSearch(event) {
    if (document.body.dataset.signedIn !== "1") return; // the page asks to log in, then searches
    event.preventDefault();
    let q = $("#quick-search-input").value.trim();
    const scope = $("#quick-search-scope");
    if (scope && scope.value) q = (q + " under:" + quote(scope.value)).trim();
    if (!q) return;
    if ($("#search-page")) window.location.href = "/search/?q=" + encodeURIComponent(q); // the page shows them
    else openResults(q);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = $("#quick-search");
    if (form) form.addEventListener("submit", quickSearch);
    const advanced = $("#form-advanced");
    if (advanced) {
      advanced.addEventListener("submit", submitAdvanced);
      advanced.addEventListener("input", showQuery);
      advanced.addEventListener("change", (e) => {
        const row = e.target.closest(".sf-adv-row");
        if (row && e.target.classList.contains("sf-adv-field")) showInputs(row);
        showQuery();
      });
    }
    document.addEventListener("click", (e) => {
      const el = e.target.closest("[data-search]");
      if (!el) return;
      switch (el.dataset.search) {
        case "advanced": {
          const box = $("#search-page-input") || $("#quick-search-input");
          openAdvanced(box ? box.value.trim() : "");
          break;
        }
        case "refine": openAdvanced($("#search-query-shown").textContent); break;
        case "add-row": { const row = addRow(); if (row) $(".sf-adv-field", row).focus(); break; }
        case "remove-row": {
          const tip = window.bootstrap && bootstrap.Tooltip.getInstance(el);
          if (tip) tip.dispose();
          el.closest(".sf-adv-row").remove();
          showQuery();
          break;
        }
        case "copy-link": copyLink(el); break;
        default: break;
      }
    });
    // Tooltips of results about to be replaced go with them (else one shown stays behind).
    document.body.addEventListener("htmx:beforeSwap", (e) => {
      const target = e.detail.target;
      if (!window.bootstrap || !target.closest || !target.closest("#search-body, .sf-search-results")) return;
      $$('[data-bs-toggle="tooltip"]', target).forEach((el) => {
        const tip = bootstrap.Tooltip.getInstance(el);
        if (tip) tip.dispose();
      });
    });
    // A sort or page change re-renders the results: the shared link follows it.
    document.body.addEventListener("htmx:afterSettle", () => {
      const results = $("#search-body #search-results");
      if (results && results.dataset.shareUrl) setShare(results.dataset.shareUrl);
    });
  });
})();
