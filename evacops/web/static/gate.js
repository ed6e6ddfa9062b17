/* evacops gate: scan (camera via BarcodeDetector or the vendored jsQR, a keyboard-wedge scanner,
   or the short code under the QR typed in), show LET IN / STOP with initials and household size
   only. Put inline in the gate page (evacops/web/inline.py): one request makes the page usable;
   jsQR is fetched only when the camera starts on a browser without BarcodeDetector, and the
   service worker is registered after the page has loaded.
   An enrolled device (its token from the admin) puts every scan into an IndexedDB outbox with
   the device id and a per-device sequence number, then syncs it to
   POST /api/v1/operations/{op}/devices/{device}/scans; retries are harmless (the server keeps
   (device, seq) unique). A typed short code travels as {code} instead of {payload} and is
   resolved by the server (at sync when typed offline). Without a device token, scans go online
   with the session. */
(() => {
  "use strict";
  const root = document.getElementById("gate");
  const op = root.dataset.op;
  const t = (k) => root.dataset["t" + k[0].toUpperCase() + k.slice(1)] || k;
  // a refusal's words in the page's language, by the server's code (evacops/web/refusals.py);
  // the server's English words when the page does not know the code or lacks a value
  const REFUSALS = JSON.parse(root.dataset.refusals || "{}");
  function refusal(code, params, english) {
    const words = REFUSALS[code];
    if (!words) return english;
    let missing = false;
    const text = words.replace(/%\((\w+)\)s/g, (_, k) => {
      if (params && params[k] !== undefined) return String(params[k]);
      missing = true;
      return "";
    });
    return missing ? english || text : text;
  }
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const $ = (id) => document.getElementById(id);
  const DEVICE_KEY = "evacops-device:" + op;
  let device = JSON.parse(localStorage.getItem(DEVICE_KEY) || "null");
  let running = null; // the sync in flight
  let queued = null; // the sync to follow it, shared by every caller who came meanwhile

  // ------------------------------------------------------------------ IndexedDB outbox
  const dbReady = new Promise((resolve, reject) => {
    const open = indexedDB.open("evacops-gate-" + op, 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore("outbox", { keyPath: ["device", "seq"] });
      open.result.createObjectStore("meta");
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const done = (tx) => new Promise((ok, no) => { tx.oncomplete = ok; tx.onerror = () => no(tx.error); });
  const req = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });

  async function enqueue(what) {
    const db = await dbReady;
    const tx = db.transaction(["outbox", "meta"], "readwrite");
    const meta = tx.objectStore("meta");
    const key = "seq:" + device.id;
    const seq = ((await req(meta.get(key))) || 0) + 1;
    meta.put(seq, key);
    const scan = { device: device.id, seq, ...what, action: "gate-in", at: new Date().toISOString() };
    tx.objectStore("outbox").put(scan);
    await done(tx);
    return scan;
  }
  async function waiting(dev = device) {
    const db = await dbReady;
    const all = await req(db.transaction("outbox").objectStore("outbox").getAll());
    return dev ? all.filter((s) => s.device === dev.id) : all;
  }
  async function forget(dev, seqs) {
    const db = await dbReady;
    const tx = db.transaction("outbox", "readwrite");
    for (const seq of seqs) tx.objectStore("outbox").delete([dev.id, seq]);
    await done(tx);
  }
  async function setMeta(key, value) {
    const db = await dbReady;
    const tx = db.transaction("meta", "readwrite");
    tx.objectStore("meta").put(value, key);
    await done(tx);
  }
  async function getMeta(key) {
    const db = await dbReady;
    return req(db.transaction("meta").objectStore("meta").get(key));
  }

  // ------------------------------------------------------------------ sync
  // One sync at a time. A scan made while one is in flight is sent by the next, which starts
  // as soon as the first is answered; its caller gets the answers of both (the first may have
  // taken the scan already), so every scan's answer reaches the screen. A sync sends for the
  // device it started with, even if the page is enrolled as another meanwhile; its answers are
  // keyed "device:seq", so one device's answer is never shown for another's scan.
  function sync() {
    if (!device) return Promise.resolve({});
    if (!running) {
      running = syncOnce().finally(() => { running = null; });
      return running;
    }
    if (!queued) {
      queued = running.then((first) => {
        queued = null;
        return sync().then((second) => ({ ...first, ...second }));
      });
    }
    return queued;
  }
  async function syncOnce() {
    const dev = device;
    const answers = {};
    try {
      let batch = (await waiting(dev)).sort((a, b) => a.seq - b.seq);
      while (batch.length) {
        const part = batch.slice(0, 200);
        const body = { scans: part.map(({ seq, payload, code, action, at }) => ({ seq, payload, code, action, at })) };
        const res = await fetch(`/api/v1/operations/${encodeURIComponent(op)}/devices/${encodeURIComponent(dev.id)}/scans`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + dev.token },
          body: JSON.stringify(body),
        });
        if (!res.ok) break; // kept in the outbox; tried again later
        const out = await res.json();
        for (const a of out.answers) answers[dev.id + ":" + a.seq] = a;
        await forget(dev, out.answers.map((a) => a.seq));
        await setMeta("last-sync", new Date().toISOString());
        batch = batch.slice(200);
      }
    } catch (e) {
      /* offline: the outbox keeps the scans */
    } finally {
      status();
    }
    return answers;
  }

  async function status() {
    $("net").textContent = navigator.onLine ? t("online") : t("offline");
    const n = (await waiting()).length;
    $("waiting").textContent = String(n);
    $("sync").classList.toggle("offline", !navigator.onLine);
    $("sync").classList.toggle("pending", n > 0);
    const last = await getMeta("last-sync");
    $("last").textContent = last ? new Date(last).toTimeString().slice(0, 5) : t("never");
    $("device-label").textContent = device ? `${device.id} · ${device.site}` : $("device-label").textContent;
  }

  // the site a scan is recorded at: an enrolled device's own (locked), else the one chosen
  // (kept over a reload: a gate team that reloads does not fall back to the first gate)
  const SITE_KEY = "evacops-site:" + op;
  $("site").addEventListener("change", () => {
    if (!$("site").disabled) localStorage.setItem(SITE_KEY, $("site").value);
    showCalls();
  });
  // the plan's call-forward for the chosen site: a gate's own calls, an assembly point's
  // people called from it, every call at the airport (or a site of unknown kind)
  function showCalls() {
    const none = $("calls-none");
    if (!none) return; // no plan attached
    const pick = $("site");
    const table = $("calls");
    const opt = pick.options[pick.selectedIndex];
    const kind = (opt && opt.dataset.kind) || "";
    const key = kind === "gate" ? "gate" : kind === "assembly" ? "from" : null;
    let shown = 0;
    if (table) {
      table.querySelectorAll("tr[data-gate]").forEach((row) => {
        const on = !key || row.dataset[key] === pick.value;
        row.hidden = !on;
        if (on) shown += 1;
      });
      table.hidden = shown === 0;
    }
    none.hidden = shown > 0;
    const say = kind === "assembly" || kind === "airport" ? kind : "gate";
    none.querySelectorAll("[data-for]").forEach((s) => { s.hidden = s.dataset.for !== say; });
  }
  function showSite() {
    const pick = $("site");
    const own = device && device.site;
    const want = own || localStorage.getItem(SITE_KEY);
    const offered = (name) => [...pick.options].some((o) => o.value === name);
    if (own && !offered(own)) pick.add(new Option(own, own));
    if (want && offered(want)) pick.value = want;
    pick.disabled = !!own;
    showCalls();
  }

  // ------------------------------------------------------------------ the answer
  function show(kind, big, who) {
    const box = $("answer");
    box.className = "answer " + kind;
    box.querySelector(".big").textContent = big;
    box.querySelector(".who").textContent = who || "";
    if (navigator.vibrate) navigator.vibrate(kind === "go" ? 80 : [200, 100, 200]);
  }
  function letIn(a) {
    // the initials isolated left to right: "Z.S." on a right-to-left page, not ".Z.S"
    const initials = a.initials ? "\u2066" + a.initials + "\u2069" : "";
    const who = [initials, a.household_size ? `${t("household")} ${a.household_size}` : ""]
      .filter(Boolean).join(" · ");
    show("go", t("letin"), who + (a.duplicate ? ` (${t("again")})` : ""));
  }

  // a short code as printed ("K7Q-2MX"): any case, with or without the dash, O for 0, I/L for 1
  const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{6}$/;
  function shortCode(text) {
    const c = text.replace(/[\s-]/g, "").toUpperCase().replace(/O/g, "0").replace(/[IL]/g, "1");
    return CROCKFORD.test(c) ? c.slice(0, 3) + "-" + c.slice(3) : null;
  }
  function why(a) {  // a synced scan's refusal or conflict, in the page's language
    if (a.code) return refusal(a.code, a.params, a.problem || a.outcome);
    if (a.conflict) return refusal("conflict-" + a.conflict, {}, a.conflict);
    return a.problem || a.outcome;
  }

  // what: {payload} (the QR's text) or {code} (a short code typed in)
  async function check(what) {
    if (device) {
      const scan = await enqueue(what);
      show("saved", t("saved"), what.code || "");
      const answers = await sync();
      const a = answers[scan.device + ":" + scan.seq];
      if (!a) return;
      if (a.outcome === "recorded" && !a.conflict) letIn(a);
      else show("stop", t("stop"), why(a));
      return;
    }
    try {
      const res = await fetch(`/api/v1/operations/${encodeURIComponent(op)}/scans`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ ...what, action: "gate-in", site: $("site").value || null }),
      });
      const body = await res.json();
      if (res.ok) letIn(body);
      else if (res.status === 429) show("stop", t("stop"), t("toomany"));
      else if (what.code && res.status === 409 && body.field === "code") show("stop", t("stop"), t("ambiguous"));
      else show("stop", t("stop"), refusal(body.code, body.params, body.detail || body.title));
    } catch (e) {
      show("stop", t("offline"), "");
    }
  }

  // ------------------------------------------------------------------ inputs
  $("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("payload").value.trim();
    $("payload").value = "";
    if (v) check(v.length <= 9 && shortCode(v) ? { code: shortCode(v) } : { payload: v });
    $("payload").focus();
  });
  $("code-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = shortCode($("code").value);
    if (!code) { show("stop", t("stop"), t("badcode")); $("code").select(); return; }
    $("code").value = "";
    check({ code });
    $("code").focus();
  });

  $("device-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const token = $("device-token").value.trim();
    try {
      const res = await fetch("/api/v1/me", { headers: { Authorization: "Bearer " + token } });
      if (!res.ok) throw new Error("refused");
      const me = await res.json();
      if (!me.device) throw new Error("not a device token");
      device = { id: me.device, site: me.site, token };
      localStorage.setItem(DEVICE_KEY, JSON.stringify(device));
      $("device-token").value = "";
      showSite();
      status();
    } catch (err) {
      show("stop", t("stop"), String(err.message || err));
    }
  });

  $("export").addEventListener("click", async () => {
    const blob = new Blob([JSON.stringify(await waiting(), null, 1)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `evacops-outbox-${op}-${new Date().toISOString().slice(0, 16)}.json`;
    a.click();
  });
  $("sync-now").addEventListener("click", () => sync());

  let stream = null;
  $("camera").addEventListener("click", async () => {
    if (stream) { stream.getTracks().forEach((tr) => tr.stop()); stream = null; $("video").hidden = true; return; }
    if (!navigator.mediaDevices) { show("stop", t("stop"), t("nocamera")); return; }
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    const video = $("video");
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    let detect;
    if ("BarcodeDetector" in window) {
      const bd = new BarcodeDetector({ formats: ["qr_code"] });
      detect = async () => ((await bd.detect(video))[0] || {}).rawValue;
    } else {
      await new Promise((ok, no) => {
        const s = document.createElement("script");
        s.src = "/static/vendor/jsQR.js"; s.onload = ok; s.onerror = no;
        document.head.appendChild(s);
      });
      const canvas = document.createElement("canvas");
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      detect = async () => {
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        if (!canvas.width) return null;
        ctx.drawImage(video, 0, 0);
        const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const code = window.jsQR(img.data, img.width, img.height);
        return code && code.data;
      };
    }
    let last = "", lastAt = 0;
    const loop = async () => {
      if (!stream) return;
      const text = await detect().catch(() => null);
      if (text && (text !== last || Date.now() - lastAt > 5000)) {
        last = text; lastAt = Date.now();
        await check({ payload: text });
      }
      setTimeout(loop, 250);
    };
    loop();
  });

  window.addEventListener("online", () => { status(); sync(); });
  window.addEventListener("offline", status);
  setInterval(sync, 15000);
  // the service worker (and the files it keeps: jsQR among them) after the page has loaded,
  // so that nothing it fetches competes with the first paint on a slow link
  const registerWorker = () => {
    if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" });
  };
  if (document.readyState === "complete") registerWorker();
  else window.addEventListener("load", registerWorker);
  showSite();
  status();
  sync();
  // for tests and the demo: the outbox, inspectable; data-ready: every handler is attached
  window.evacopsGate = { waiting, sync, device: () => device };
  root.dataset.ready = "1";
})();
