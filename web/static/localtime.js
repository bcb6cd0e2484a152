// Show <time class="dt" datetime="..."> in the reader's own time zone and language.
// Progressive enhancement only: without JavaScript the server's Paris time stays.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) { return; }
  var lang = document.documentElement.lang || undefined;
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    return;
  }
  var nodes = document.querySelectorAll("time.dt[datetime]");
  for (var i = 0; i < nodes.length; i++) {
    var d = new Date(nodes[i].getAttribute("datetime"));
    if (!isNaN(d.getTime())) { nodes[i].textContent = fmt.format(d); }
  }
})();
