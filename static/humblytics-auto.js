/*
 * Humblytics automatic events: outbound links, file downloads, form submissions and CSS-class
 * tagging. Plain ES2017, no build step. Served minified at /hmbl.auto.js; never embed it yourself:
 * the tracker (hmbl.min.js) loads it when its tag carries one of these attributes, and copies
 * them onto this script's own tag:
 *   data-track-outbound          "Outbound Link: Click" {url} for a link to another host name
 *   data-track-downloads[="pdf,epub"]  "File Download" {url} for a link to a file with one of
 *                                these extensions (the value replaces the default list below) or
 *                                with a download attribute
 *   data-track-forms             "Form: Submission" {path, form: the form's id or name}
 *   data-track-tagged            class="humblytics-event-name=Signup humblytics-event-plan=pro" on
 *                                an element or an ancestor sends "Signup" {plan: "pro"} when
 *                                clicked; on a <form>, when submitted. "+" stands for a space.
 * A tagged link sends its own event instead of an outbound or download one. Middle clicks on
 * links count; nothing here ever cancels or delays a click or a submission: events leave with
 * navigator.sendBeacon (or fetch keepalive), which outlive the page.
 */
(function (w, d, l) {
  "use strict";
  var H = (w.Humblytics = w.Humblytics || {}), S = d.currentScript;
  // Loaded twice: one set of listeners.
  if (H.auto || !S) return;
  H.auto = true;
  var on = (a) => S.getAttribute("data-track-" + a);
  var out = on("outbound") !== null, forms = on("forms") !== null, tagged = on("tagged") !== null;
  var dl = on("downloads");
  var exts = (dl || "pdf,zip,gz,tgz,rar,7z,dmg,pkg,exe,msi,apk,iso,doc,docx,xls,xlsx,ppt,pptx,odt,ods," +
    "odp,csv,txt,rtf,epub,key,mp3,wav,m4a,flac,ogg,mp4,mov,avi,wmv,mkv,webm").toLowerCase().split(/[\s,.]+/);
  // The tracker's track() at the time of the event (the tracker may load after this script).
  var send = (name, props) => { if (H.track) H.track(name, props); };

  var tag = (el) => {
    var name, props = {};
    el.classList.forEach((c) => {
      var m = /^humblytics-event-([^=]+)=(.+)$/.exec(c);
      if (m) {
        var v = m[2].replace(/\+/g, " ").slice(0, 500);
        if (m[1] === "name") name = v;
        else props[m[1]] = v;
      }
    });
    return name && [name, props];
  };

  var click = (e) => {
    var t = e.target, a = t.closest && t.closest("a[href]"), u;
    // A middle click opens the link in a new tab; other buttons do nothing worth counting.
    if (e.type !== "click" && (e.button !== 1 || !a)) return;
    if (tagged) {
      for (var el = t; el && el.classList; el = el.parentNode) {
        var g = tag(el);
        if (g) {
          // A tagged form counts its submissions, not the clicks inside it.
          if (el.tagName !== "FORM") return send(g[0], g[1]);
          break;
        }
      }
    }
    if (!a) return;
    try { u = new URL(a.href); } catch (x) { return; }
    if (!/^https?:$/.test(u.protocol)) return;
    var p = { url: u.href.slice(0, 500) };
    if (dl !== null && (a.hasAttribute("download") || exts.indexOf(u.pathname.split(".").pop().toLowerCase()) >= 0)) {
      send("File Download", p);
    } else if (out && u.hostname !== l.hostname) {
      send("Outbound Link: Click", p);
    }
  };
  // Capture phase: a page that stops a click's propagation still has it counted.
  d.addEventListener("click", click, true);
  d.addEventListener("auxclick", click, true);

  d.addEventListener("submit", (e) => {
    var f = e.target, g = tagged && tag(f), id = f.getAttribute("id") || f.getAttribute("name");
    if (g) send(g[0], g[1]);
    // method="dialog" only closes a dialog.
    if (forms && !/^dialog$/i.test(f.getAttribute("method"))) {
      send("Form: Submission", id ? { path: l.pathname, form: id.slice(0, 500) } : { path: l.pathname });
    }
  }, true);
})(window, document, location);
