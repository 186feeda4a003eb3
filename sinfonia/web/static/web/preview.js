// The previewer's DICOM controls: window presets and a custom centre / width, a frame slider
// for multi-frame instances, and scrolling through the series (buttons, mouse wheel, arrow
// keys: ← → instance, ↑ ↓ frame). Every picture comes from the render endpoint
// /api/v1/files/<id>/dicom/rendered?frame=&window_center=&window_width=&size=.
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  let state = null; // the viewer shown now: {root, fileId, frame, frames, window, series}

  function current() {
    const root = $("#dicom-viewer");
    if (!root || !$("#dicom-image", root)) { state = null; return null; }
    if (!state || state.root !== root) {
      state = { root, fileId: root.dataset.fileId, frame: 0, frames: Number(root.dataset.frames) || 1, window: null, series: null };
    }
    return state;
  }

  function showError(text) {
    const box = $("#dicom-error");
    if (!box) return;
    box.textContent = text || "";
    box.classList.toggle("d-none", !text);
  }

  function render() {
    const s = current();
    if (!s) return;
    const params = new URLSearchParams({ size: "512", frame: String(s.frame) });
    if (s.window) {
      params.set("window_center", String(s.window[0]));
      params.set("window_width", String(s.window[1]));
    }
    const img = $("#dicom-image");
    img.src = "/api/v1/files/" + s.fileId + "/dicom/rendered?" + params;
    img.dataset.fileId = s.fileId;
    img.dataset.frame = String(s.frame);
    img.dataset.window = s.window ? s.window.join(",") : "";
    const slider = $("#dicom-frame");
    if (slider) {
      slider.max = String(s.frames - 1);
      slider.value = String(s.frame);
      $("#dicom-frame-label").textContent = (s.frame + 1) + " / " + s.frames;
      $("#dicom-frames").classList.toggle("d-none", s.frames < 2);
    }
    showError("");
  }

  // An <img> says nothing about why it failed: ask the endpoint for its error message.
  async function explain(img) {
    try {
      const response = await fetch(img.src, { credentials: "same-origin" });
      const data = await response.json();
      showError(data.detail || response.statusText);
    } catch (e) {
      showError($("#dicom-controls").dataset.renderFailed);
    }
  }

  function usePreset(value) {
    const s = current();
    if (!s) return;
    if (value === "custom") { $("#dicom-center").focus(); return; }
    s.window = value ? value.split(",").map(Number) : null;
    $("#dicom-center").value = s.window ? s.window[0] : "";
    $("#dicom-width").value = s.window ? s.window[1] : "";
    render();
  }

  function useCustom() {
    const s = current();
    if (!s) return;
    const center = parseFloat($("#dicom-center").value);
    const width = parseFloat($("#dicom-width").value);
    if (!Number.isFinite(center) || !(width > 0)) {
      showError($("#dicom-controls").dataset.badWindow);
      return;
    }
    s.window = [center, width];
    const match = Array.from($("#dicom-preset").options).find((o) => o.value === center + "," + width);
    $("#dicom-preset").value = match ? match.value : "custom";
    render();
  }

  function frameTo(frame) {
    const s = current();
    if (!s) return;
    s.frame = Math.min(s.frames - 1, Math.max(0, frame));
    render();
  }

  function showPosition(series) {
    const position = $("#series-position");
    const file = $("#series-file");
    if (!position || !file) return; // the previewer closed while the series was being fetched
    const item = series.items[series.index];
    position.textContent = (series.index + 1) + " / " + series.items.length;
    const number = item.instance_number === null ? "" : " (" + item.instance_number + ")";
    file.textContent = item.name + number;
  }

  async function loadSeries() {
    const s = current();
    const nav = $("#series-nav");
    if (!s || !nav) return null;
    if (!s.series) {
      const response = await fetch("/api/v1/dicom/series/" + encodeURIComponent(nav.dataset.series) + "/instances", { credentials: "same-origin" });
      if (!response.ok) return null;
      const items = await response.json();
      s.series = { items, index: Math.max(0, items.findIndex((i) => String(i.file_id) === s.fileId)) };
    }
    showPosition(s.series);
    return s.series;
  }

  async function seriesStep(step) {
    const s = current();
    const series = await loadSeries();
    if (!s || !series) return;
    const index = Math.min(series.items.length - 1, Math.max(0, series.index + step));
    if (index === series.index) return;
    series.index = index;
    const item = series.items[index];
    s.fileId = String(item.file_id);
    s.frames = item.number_of_frames || 1;
    s.frame = 0;
    showPosition(series);
    render();
  }

  function typing(target) {
    return target.closest && target.closest("input, select, textarea, [contenteditable], .modal.show");
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.addEventListener("change", (e) => {
      if (e.target.id === "dicom-preset") usePreset(e.target.value);
    });
    document.addEventListener("input", (e) => {
      if (e.target.id === "dicom-frame") frameTo(Number(e.target.value));
    });
    document.addEventListener("click", (e) => {
      const el = e.target.closest("[data-action]");
      if (!el || !current()) return;
      if (el.dataset.action === "dicom-window") useCustom();
      else if (el.dataset.action === "series-prev") seriesStep(-1);
      else if (el.dataset.action === "series-next") seriesStep(1);
    });
    document.addEventListener("keydown", (e) => {
      if (!current()) return;
      if ((e.target.id === "dicom-center" || e.target.id === "dicom-width") && e.key === "Enter") {
        e.preventDefault();
        useCustom();
        return;
      }
      if (typing(e.target) || e.altKey || e.ctrlKey || e.metaKey) return;
      const moves = { ArrowLeft: () => seriesStep(-1), ArrowRight: () => seriesStep(1), ArrowUp: () => frameTo(state.frame - 1), ArrowDown: () => frameTo(state.frame + 1) };
      if (!moves[e.key]) return;
      e.preventDefault();
      moves[e.key]();
    });
    document.addEventListener("wheel", (e) => {
      if (!e.target.closest("#dicom-image") || !current()) return;
      e.preventDefault();
      const step = e.deltaY > 0 ? 1 : -1;
      if ($("#series-nav")) seriesStep(step); else frameTo(state.frame + step);
    }, { passive: false });
    document.addEventListener("error", (e) => {
      if (e.target.id === "dicom-image") explain(e.target);
    }, true);
    document.body.addEventListener("htmx:afterSwap", () => { if (current()) loadSeries(); });
  });
})();
