// Applied before the page paints (no flash): the theme chosen in this browser (localStorage,
// no cookie), else the system's preference.
(function () {
  "use strict";
  var stored = null;
  try { stored = window.localStorage.getItem("sinfonia.theme"); } catch (e) { /* private mode */ }
  var dark = stored ? stored === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
})();
