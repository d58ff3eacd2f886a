// Live updates for every console page: each [data-live] block (with an id) is re-read from the page's
// own URL every few seconds and replaced in place. No framework, no full reload. A block the operator
// is using (a focused field, a ticked box) is left alone until they are done; a hidden tab does not poll.
(function () {
  var blocks = document.querySelectorAll("[data-live][id]");
  if (!blocks.length) return;
  var every = parseInt(document.body.dataset.liveEvery || "5000", 10);
  function busy(block) {
    return block.contains(document.activeElement) && document.activeElement !== document.body ||
      block.querySelector("input[type=checkbox]:checked");
  }
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch(location.href, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        blocks.forEach(function (block) {
          var next = fresh.getElementById(block.id);
          if (next && !busy(block) && next.innerHTML !== block.innerHTML) block.innerHTML = next.innerHTML;
          block.dataset.refreshedAt = Date.now();
        });
      })
      .catch(function () { /* keep what is shown; try again next tick */ })
      .finally(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
