// Re-renders [data-refresh-url] blocks in place every few seconds (no full reload, no CDN).
(function () {
  document.querySelectorAll("[data-refresh-url]").forEach(function (block) {
    var every = parseInt(block.dataset.refreshEvery || "3000", 10);
    function tick() {
      fetch(block.dataset.refreshUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { block.innerHTML = html; block.dataset.refreshedAt = Date.now(); })
        .catch(function () { /* keep the last figures; try again next tick */ })
        .finally(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  });
})();
