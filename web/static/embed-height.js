// Optional, off by default (/embed?autoheight=1): tells the page that frames the block
// how tall it is, so the host can size the <iframe> (see docs/syndication.md). Only a
// number is sent, never anything about the reader.
(function () {
  "use strict";
  function send() {
    var height = document.documentElement.scrollHeight;
    window.parent.postMessage({ type: "aggregator-embed-height", height: height }, "*");
  }
  window.addEventListener("load", send);
  window.addEventListener("resize", send);
})();
