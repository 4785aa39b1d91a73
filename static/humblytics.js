/*
 * Humblytics tracking snippet: cookie-free page views. Plain ES2017, no build step.
 *
 * Embed: <script defer src="https://HOST/hmbl.min.js?id=SITE_ID"></script>
 * Optional attributes on that tag:
 *   data-site="SITE_ID"   site id (instead of ?id= in src)
 *   data-api="URL"        event endpoint (default: /api/event on the script's origin)
 *   data-allow-local      also send from localhost, file: pages and automated browsers
 *   data-payment-link-domains="pay.example.com"  custom domains of your Stripe Payment Links
 *                         (buy.stripe.com is always covered; sites with Stripe connected only)
 *   Automatic events, each opt-in; any of them makes this script fetch /hmbl.auto.js (its
 *   header says exactly what each sends), with the data-track-* attributes copied onto its tag:
 *   data-track-outbound   "Outbound Link: Click" {url} for a click on a link to another host
 *   data-track-downloads  "File Download" {url} for a link to a file (pdf, zip, dmg, exe, docx,
 *                         xlsx, pptx, csv, mp3, mp4, ...) or with a download attribute;
 *                         data-track-downloads="pdf,epub" replaces the list
 *   data-track-forms      "Form: Submission" {path, form: the form's id or name} on submit
 *   data-track-tagged     CSS-class tagging: class="humblytics-event-name=Signup
 *                         humblytics-event-plan=pro" on an element or an ancestor sends
 *                         "Signup" {plan: "pro"} on click (on a <form>: on submit)
 *
 * window.Humblytics.viewId  id of the current page view (22 URL-safe random chars). Send it with
 *                           your checkout request and store it as `humblytics_view_id` metadata
 *                           on the Stripe object. Set as soon as this script runs; every SPA
 *                           navigation gets a new one.
 * window.Humblytics.track(name, props)  sends custom event `name` (at most 120 characters) with
 *                           `props` (optional: at most 30 keys of at most 64 characters, values
 *                           strings, numbers or booleans of at most 500) on the current view, after
 *                           that view's own event. Calls made before this script loads are kept by
 *                           this stub, placed before the tag, and sent in order once it runs:
 *   <script>window.Humblytics=window.Humblytics||{q:[],track:function(){Humblytics.q.push(arguments)}}</script>
 * "humblytics:view" event on window, detail.viewId, fired at each new page view.
 * Stripe Payment Links: a click on a link to one gets client_reference_id=<viewId> added to its
 * query (other parameters kept; a client_reference_id of your own is left alone).
 *
 * No cookies, nothing stored about the visitor. To exclude your own visits set
 * localStorage.humblytics_ignore = "true" (or window.humblytics_ignore = true on the page).
 *
 * Config contract: the server may replace the marker on the first line of the function below,
 * exactly the text `!HMBL_CONFIG` in a block comment followed by `null`, with a JSON object.
 * The `!` makes it a comment the minifier (rjsmin) keeps.
 * This comment is stripped when served; the marker is kept.
 */
(function (w, d, l, h, n) {
  "use strict";
  var C = /*!HMBL_CONFIG*/null;
  var H = (w.Humblytics = w.Humblytics || {});
  // Loaded twice: keep the first instance.
  if (H.viewId) return;
  // Until the first page view, calls wait in H.q (the README's stub for calls made before this
  // script loads has the same shape).
  H.q = H.q || [];
  H.track = H.track || ((...a) => H.q.push(a));

  var S = d.currentScript;
  if (!S) {
    var all = d.getElementsByTagName("script");
    for (var i = all.length; i-- && !S; ) {
      if (/hmbl\.min\.js|humblytics\.js/.test(all[i].src)) S = all[i];
    }
  }
  var attr = (a) => (S ? S.getAttribute(a) : null);
  var site, api;
  try {
    site = attr("data-site") || new URL(S.src).searchParams.get("id");
    api = attr("data-api") || new URL("/api/event", S.src).href;
  } catch (e) {}

  // Local development, file: pages and automation are skipped unless data-allow-local is set.
  var local = attr("data-allow-local") === null && (l.protocol === "file:" || n.webdriver === true ||
    /^(localhost|127(\.\d+){3}|\[::1\])$|\.localhost$/.test(l.hostname));

  var off = () => {
    if (local || !site || !api || w.humblytics_ignore === true) return true;
    try { return localStorage.getItem("humblytics_ignore") === "true"; } catch (e) { return false; }
  };

  // 22 base64url characters, 6 random bits each.
  var newId = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(17))))
    .slice(0, 22).replace(/\+/g, "-").replace(/\//g, "_");

  var send = (p) => {
    if (off()) return;
    var j = JSON.stringify(p);
    // A text/plain body is a CORS-safelisted request: no preflight.
    try { if (n.sendBeacon(api, j)) return; } catch (e) {}
    fetch(api, { method: "POST", body: j, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain" } }).catch(() => {});
  };

  // Page views wait while the page is being prerendered.
  var queue = [];
  var flush = () => {
    if (d.prerendering || d.visibilityState === "prerender") return;
    while (queue.length) send(queue.shift());
  };
  d.addEventListener("visibilitychange", flush);
  d.addEventListener("prerenderingchange", flush);
  // Page views and custom events share one queue, so an event never overtakes its page view.
  var ev = (p) => {
    p.site = site;
    p.view_id = H.viewId;
    p.url = l.href;
    queue.push(p);
    flush();
  };

  var last, ctl;
  var view = (ref) => {
    // Split tests: the variant arrives as ?hmbl_v=KEY (and the original referrer as hmbl_r);
    // report them, then drop both from the address bar.
    var q = l.search, sp = new URLSearchParams(q);
    var v = sp.get("hmbl_v") || ctl;
    if (sp.has("hmbl_r")) ref = sp.get("hmbl_r");
    if (sp.has("hmbl_v") || sp.has("hmbl_r")) {
      q = q.slice(1).split("&").filter((x) => !/^hmbl_[vr]$/.test(x.split("=")[0])).join("&");
      last = l.href.split(/[?#]/)[0] + (q ? "?" + q : "") + l.hash;
      try { h.replaceState(h.state, "", last); } catch (e) {}
    }
    ctl = null;
    last = l.href;
    H.viewId = newId();
    var p = { referrer: ref, screen_width: screen.width | 0, type: "pageview" };
    if (v) p.variant = v;
    ev(p);
    // After the view is queued: a listener's track() call must go out after it.
    try { w.dispatchEvent(new CustomEvent("humblytics:view", { detail: { viewId: H.viewId } })); } catch (e) {}
  };

  // <split-tests> (the server drops this block for sites with no running test)
  // Split tests inlined by the server, each {p: control path, c: control key, a: assigned key,
  // u: assigned URL, v: variant paths, n: canonical to control}, and d: the site's domain.
  // Bots and automation are never assigned.
  var T = (C && C.t) || [], D = (C && C.d) || "", qs = new URLSearchParams(l.search);
  for (var k = 0; k < T.length && !local; k++) {
    var t = T[k];
    if (l.pathname === t.p && !qs.has("hmbl_v")) {
      if (t.a !== t.c) {
        var u;
        try { u = new URL(t.u, l.href); } catch (e) { continue; }
        var hn = u.hostname;
        // Defence in depth (the server checks too): never leave this origin except for https on
        // the site's domain, and never with a user name; otherwise the visitor is not in the test.
        if (u.username || u.password || (u.origin !== l.origin &&
          !(u.protocol === "https:" && D && (hn === D || hn.endsWith("." + D))))) continue;
        qs.forEach((val, key) => { if (!u.searchParams.has(key)) u.searchParams.set(key, val); });
        u.searchParams.set("hmbl_v", t.a);
        if (d.referrer) u.searchParams.set("hmbl_r", d.referrer);
        // Hidden until the redirect, with a fail-safe; no view is sent for this control page.
        d.documentElement.style.visibility = "hidden";
        setTimeout(() => { d.documentElement.style.visibility = ""; }, 1500);
        H.viewId = newId();
        l.replace(u.href);
        return;
      }
      ctl = t.c;
    }
    if (t.n && t.v.indexOf(l.pathname) >= 0 && !d.querySelector("link[rel=canonical]")) {
      var c = d.createElement("link");
      c.rel = "canonical";
      c.href = new URL(t.p, l.href).href;
      d.head.appendChild(c);
    }
  }
  // </split-tests>

  view(d.referrer);

  // Custom events. Calls made before now are sent in order, after the first view; from now on
  // H.q.push (what a stub captured earlier still calls) sends too.
  var track = (a) => ev({ type: "event", name: a[0], props: a[1] });
  H.q.forEach(track);
  H.q = { push: track };
  H.track = (...a) => track(a);

  // Automatic events (data-track-* on the tag) live in a second script, fetched only when asked for.
  if (!off()) try {
    var e = d.createElement("script");
    for (var a of S.attributes) if (!a.name.indexOf("data-track-")) e.setAttribute(a.name, a.value);
    if (e.attributes.length) {
      e.src = new URL("/hmbl.auto.js", S.src).href;
      d.head.appendChild(e);
    }
  } catch (x) {}

  // <payment-links> (the server drops this block for sites with no Stripe connection)
  // Payment Links carry the view id as client_reference_id; view ids fit Stripe's rule for it
  // (letters, digits, - and _, at most 200). One the page set itself is left alone.
  var links = ["buy.stripe.com"].concat((attr("data-payment-link-domains") || "").split(/[\s,]+/));
  var tag = (e) => {
    try {
      var a = e.target.closest("a[href]"), u = new URL(a.href), r = u.searchParams.get("client_reference_id");
      if (links.indexOf(u.hostname) < 0 || (r && r !== a.getAttribute("data-hmbl-ref"))) return;
      u.searchParams.set("client_reference_id", H.viewId);
      a.setAttribute("data-hmbl-ref", H.viewId);
      a.href = u.href;
    } catch (x) {}
  };
  d.addEventListener("click", tag, true);
  d.addEventListener("auxclick", tag, true);
  // </payment-links>

  // Single-page apps: a new path or query is a new view; hash-only changes are not.
  var nav = () => {
    if (l.href.split("#")[0] !== last.split("#")[0]) view(last);
    last = l.href;
  };
  ["pushState", "replaceState"].forEach((m) => {
    var o = h[m];
    h[m] = function () {
      var r = o.apply(this, arguments);
      nav();
      return r;
    };
  });
  w.addEventListener("popstate", nav);
})(window, document, location, history, navigator);
