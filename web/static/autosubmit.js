// Presses the button of <form data-autosubmit> (confirming a subscription) for a person
// who opened the link from their mail, so that one click in the mail is enough.
// A plain GET never confirms anything: programs that check links in mails (scanners) open
// them too, sometimes in a real browser. So this waits for signs of a person: no
// automation flag, the page visible and focused, then a short pause; otherwise the
// button stays for the person to press. Without JavaScript the button is all there is.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosubmit]");
  if (!form || navigator.webdriver) { return; }
  var sent = false;
  function go() {
    if (sent || document.visibilityState !== "visible" || !document.hasFocus()) { return; }
    sent = true;
    var button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }
  window.setTimeout(go, 800);
})();
