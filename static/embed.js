// On a host page: <script src="https://support.example.com/static/embed.js" data-form="report-a-bug" async></script>
// inserts the form's frame where the script stands and keeps it as tall as the form.
(function () {
  var script = document.currentScript;
  var origin = new URL(script.src).origin;
  var frame = document.createElement("iframe");
  frame.src = origin + "/forms/" + encodeURIComponent(script.dataset.form) + "/embed";
  frame.title = script.dataset.title || "Support request form";
  frame.style.cssText = "width:100%;border:0;min-height:600px";
  script.parentNode.insertBefore(frame, script);
  window.addEventListener("message", function (event) {
    if (event.origin === origin && event.source === frame.contentWindow && event.data && event.data.bluehillFormHeight) {
      frame.style.height = Math.min(event.data.bluehillFormHeight + 20, 5000) + "px";
    }
  });
})();
