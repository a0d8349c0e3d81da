// Inside an embedded form: tell the host page how tall we are, so its frame can fit (static/embed.js listens).
(function () {
  function report() {
    parent.postMessage({ bluehillFormHeight: document.documentElement.scrollHeight }, "*");
  }
  window.addEventListener("load", report);
  new ResizeObserver(report).observe(document.body);
})();
