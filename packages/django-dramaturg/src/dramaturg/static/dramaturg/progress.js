// Polls a bulk action's progress once a second until it is done or failed (no reload, no CDN).
(function () {
  var block = document.getElementById("bulk");
  if (!block) return;
  function tick() {
    fetch(block.dataset.statusUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (job) {
        document.getElementById("bar").style.width = job.percent + "%";
        block.querySelector("[role=progressbar]").setAttribute("aria-valuenow", job.percent);
        var status = document.getElementById("status");  // its data-label-* attributes: the page's language
        status.textContent = status.dataset["label" + job.status.charAt(0).toUpperCase() + job.status.slice(1)] || job.status;
        document.getElementById("done").textContent = job.requested;
        document.getElementById("total").textContent = job.total;
        document.getElementById("count").textContent = job.count;
        document.getElementById("outcome").textContent = job.outcome;
        document.getElementById("error").textContent = job.error;
        block.dataset.status = job.status;
        if (job.status !== "done" && job.status !== "failed") setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 2000); });
  }
  if (block.dataset.status !== "done" && block.dataset.status !== "failed") setTimeout(tick, 500);
})();
