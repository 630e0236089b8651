// kmeans-compress serve: the page. Plain JavaScript, no build step, nothing fetched but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const CLIENT = Math.random().toString(36).slice(2) + Date.now().toString(36);
const ZOOMS = [1 / 32, 1 / 16, 1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32];
const nf = new Intl.NumberFormat("en-US");

const state = {
  config: { max_upload_bytes: Infinity, max_pixels: Infinity },
  images: [],      // {file, name, info, error, uploading, objectUrl}
  current: -1,
  seq: 0,          // number of the latest compression asked for
  inflight: false, // one request at a time; moves made meanwhile collapse into one more
  pending: false,
  result: null,
  view: { z: 1, x: 0, y: 0, w: 0, h: 0, split: 0.5 },
  resultUrl: null,
};

// ------------------------------------------------------------------ settings <-> controls <-> URL

const kFromSlider = (v) => Math.round(2 ** (1 + v / 100));
const sliderFromK = (k) => Math.round(100 * (Math.log2(k) - 1));

function options() {
  return {
    k: clampK(+$("k-number").value),
    space: $("space").value,
    dither: $("dither").checked,
    seed: Math.max(0, Math.floor(+$("seed").value || 0)),
    strip: $("strip").checked,
  };
}
function clampK(k) { return Math.min(256, Math.max(2, Math.round(k) || 16)); }
function query(o) {
  return `k=${o.k}&space=${o.space}&dither=${+o.dither}&seed=${o.seed}&strip=${+o.strip}`;
}

function readUrl() {
  const p = new URLSearchParams(location.search);
  if (p.has("k")) setK(clampK(+p.get("k")));
  if (["rgb", "lab", "oklab"].includes(p.get("space"))) $("space").value = p.get("space");
  $("dither").checked = p.get("dither") === "1";
  $("strip").checked = p.get("strip") === "1";
  if (p.has("seed")) $("seed").value = Math.max(0, parseInt(p.get("seed"), 10) || 0);
  $("heat").checked = p.get("heat") === "1";
}
function writeUrl() {
  const o = options();
  const q = query(o) + ($("heat").checked ? "&heat=1" : "");
  history.replaceState(null, "", `${location.pathname}?${q}`);
}
function setK(k) {
  $("k-number").value = k;
  $("k-slider").value = sliderFromK(k);
}

// ------------------------------------------------------------------ messages

function showMessage(text, kind = "error") {
  const m = $("message");
  m.textContent = text;
  m.className = "message" + (kind === "note" ? " note" : "");
  m.hidden = false;
}
function clearMessage() { $("message").hidden = true; }
$("message").addEventListener("click", clearMessage);

async function json(response) {
  try { return await response.json(); } catch { return { error: `kmeans-compress: error: HTTP ${response.status}` }; }
}

// ------------------------------------------------------------------ files

function addFiles(files) {
  const fresh = [...files].filter((f) => f && f.size !== undefined);
  if (!fresh.length) return;
  const first = state.images.length;
  for (const file of fresh) state.images.push({ file, name: file.name || "image" });
  renderFiles();
  select(first);
}

function renderFiles() {
  const box = $("files");
  box.textContent = "";
  state.images.forEach((img, i) => {
    const b = document.createElement("button");
    b.textContent = img.name;
    b.title = img.error || img.name;
    if (i === state.current) b.classList.add("current");
    if (img.error) b.classList.add("failed");
    b.addEventListener("click", () => select(i));
    box.appendChild(b);
  });
  box.hidden = state.images.length < 2;
  $("batch").hidden = state.images.length < 2;
  $("batch-run").textContent = `Compress all ${state.images.length} into a zip`;
}

function ensureUploaded(img) {
  if (img.info) return Promise.resolve(img.info);
  if (img.uploading) return img.uploading;
  img.uploading = (async () => {
    if (img.file.size > state.config.max_upload_bytes) {
      throw new Error(`kmeans-compress: error: ${img.name}: ${nf.format(img.file.size)} bytes is more than ` +
        `the upload limit of ${nf.format(state.config.max_upload_bytes)} bytes (start the server with a larger --max-upload-mb)`);
    }
    const r = await fetch(`/api/images?name=${encodeURIComponent(img.name)}`, { method: "POST", body: img.file });
    const j = await json(r);
    if (!r.ok) throw new Error(j.error);
    img.info = j;
    return j;
  })();
  img.uploading.then(() => { img.uploading = null; }, (e) => { img.uploading = null; img.error = e.message; renderFiles(); });
  return img.uploading;
}

async function select(i) {
  state.current = i;
  const img = state.images[i];
  renderFiles();
  clearMessage();
  $("drop-hint").hidden = true;
  state.result = null;
  showResult(null);
  if (!img.objectUrl) img.objectUrl = URL.createObjectURL(img.file);
  const orig = $("img-original");
  orig.onerror = async () => {  // a format the browser cannot show (TIFF): the server's decoded copy
    try {
      const info = await ensureUploaded(img);
      if (state.current === i && orig.src !== location.origin + info.original_url) orig.src = info.original_url;
    } catch (e) { /* reported below */ }
  };
  orig.onload = () => { if (state.current === i) { state.view.w = orig.naturalWidth; state.view.h = orig.naturalHeight; fit(); } };
  orig.src = img.objectUrl;
  try {
    const info = await ensureUploaded(img);
    if (info.notes && info.notes.length) showMessage(info.notes.join("\n"), "note");
    if (state.current === i) requestCompress();
  } catch (e) {
    if (state.current === i) { showMessage(e.message); busy(false); }
  }
}

// ------------------------------------------------------------------ compression: only the latest settings

function requestCompress() {
  writeUrl();
  if (state.current < 0 || !state.images[state.current].info) return;
  if (state.inflight) { state.pending = true; return; }
  send();
}

async function send() {
  const img = state.images[state.current];
  if (!img || !img.info) return;
  state.inflight = true;
  state.pending = false;
  const seq = ++state.seq;
  const o = options();
  busy(true);
  try {
    const r = await fetch("/api/compress", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ id: img.info.id, ...o, client: CLIENT, seq }),
    });
    const j = await json(r);
    if (r.status === 409 && j.stale) return;  // a newer request is on its way
    if (r.status === 404 && j.gone && (img.resent = (img.resent || 0) + 1) <= 2) {
      img.info = null;  // the server dropped it from its cache: send it again, then this request
      await ensureUploaded(img);
      state.pending = true;
      return;
    }
    if (!r.ok) { showMessage(j.error); return; }
    if (seq !== state.seq || state.images[state.current] !== img) return;
    // Fetch the image before showing the figures, so that picture and numbers change together.
    const url = $("heat").checked ? j.heat_url : j.png_url;
    const blob = await (await fetch(url)).blob();
    if (seq !== state.seq || state.images[state.current] !== img) return;
    state.result = j;
    showResult(j, URL.createObjectURL(blob));
  } catch (e) {
    showMessage(`kmeans-compress: error: ${e.message || e}`);
  } finally {
    state.inflight = false;
    if (state.pending) send(); else busy(false);
  }
}

function busy(on) { $("busy").hidden = !on; }

async function refreshLayer() {  // heat map on or off: same result, the other picture
  const j = state.result;
  if (!j) return;
  const blob = await (await fetch($("heat").checked ? j.heat_url : j.png_url)).blob();
  if (state.result === j) showResult(j, URL.createObjectURL(blob));
}

// ------------------------------------------------------------------ figures

function fmtBytes(n) { return n == null ? "–" : `${nf.format(n)} bytes`; }

function showResult(j, blobUrl) {
  const res = $("img-result");
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = blobUrl || null;
  if (!j) {
    res.removeAttribute("src");
    for (const id of ["s-before", "s-after", "s-ratio", "s-bpp", "s-psnr", "s-colours", "s-time"]) $(id).textContent = "–";
    $("command").textContent = "–";
    $("palette").textContent = ""; $("palette-bar").textContent = ""; $("palette-note").textContent = "";
    $("copy").disabled = true; $("download").classList.add("disabled");
    return;
  }
  res.src = blobUrl;
  const rep = j.report, heat = $("heat").checked;
  const info = state.images[state.current].info;
  $("s-before").textContent = `${fmtBytes(rep.input_bytes)} · ${info.format || "?"} ${rep.width}×${rep.height}`;
  $("s-after").textContent = fmtBytes(rep.output_bytes);
  $("s-ratio").textContent = rep.input_bytes ? `${(rep.input_bytes / rep.output_bytes).toFixed(2)}× (tutorial ${rep.tutorial_ratio.toFixed(2)}×)` : "–";
  $("s-bpp").textContent = `${rep.bits_per_pixel.toFixed(3)} (24-bit RGB: 24)`;
  $("s-psnr").textContent = rep.psnr == null ? "∞ (exact)" : `${rep.psnr.toFixed(2)} dB · MSE ${rep.mse.toFixed(2)}`;
  $("s-colours").textContent = `${rep.n_colors_used} used of ${rep.n_colors} · input ${nf.format(rep.n_distinct_input)}`;
  $("s-time").textContent = `${(j.seconds * 1000).toFixed(0)} ms`;
  $("command").textContent = j.command;
  $("copy").disabled = false;
  const a = $("download");
  a.href = j.png_url;
  a.download = j.download_name;
  a.classList.remove("disabled");
  $("tag-result").textContent = heat ? "Error heat map" : `K-means · ${rep.n_colors_used} colours`;
  $("heat-legend").hidden = !heat;
  renderPalette(j.palette, j.shares);
}

function renderPalette(colours, shares) {
  const bar = $("palette-bar"), grid = $("palette");
  bar.textContent = ""; grid.textContent = "";
  grid.classList.toggle("many", colours.length > 32);
  colours.forEach((c, i) => {
    const pct = (100 * shares[i]);
    const label = `${c} · ${pct < 0.1 ? pct.toFixed(2) : pct.toFixed(1)}% of the pixels`;
    const seg = document.createElement("div");
    seg.style.flex = `${shares[i]} 0 0`;
    seg.style.background = c.slice(0, 7);
    seg.title = label;
    bar.appendChild(seg);
    const s = document.createElement("div");
    s.className = "swatch";
    s.style.background = c.slice(0, 7);
    s.title = label;
    if (colours.length <= 32) {
      const t = document.createElement("span");
      t.textContent = pct >= 10 ? pct.toFixed(0) + "%" : pct.toFixed(1) + "%";
      s.appendChild(t);
    }
    grid.appendChild(s);
  });
  $("palette-note").textContent = `${colours.length} colours · share of the pixels`;
}

// ------------------------------------------------------------------ viewer: divider, zoom, pan

const viewer = $("viewer");

function applyView() {
  const v = state.view, dpr = window.devicePixelRatio || 1, s = v.z / dpr;
  const t = `translate(${v.x}px, ${v.y}px) scale(${s})`;
  $("img-original").style.transform = t;
  $("img-result").style.transform = t;
  const x = v.split * viewer.clientWidth;
  $("layer-result").style.clipPath = `inset(0 0 0 ${x}px)`;
  $("divider").style.left = `${x - 1}px`;
  $("zoom-value").textContent = `${+(v.z * 100).toFixed(v.z < 0.1 ? 1 : 0)}%`;
  viewer.classList.toggle("pixels", v.z >= 2);
}

function zoomTo(z, cx = viewer.clientWidth / 2, cy = viewer.clientHeight / 2) {
  const v = state.view, dpr = window.devicePixelRatio || 1;
  z = Math.min(32, Math.max(1 / 64, z));
  const s0 = v.z / dpr, s1 = z / dpr;
  v.x = cx - ((cx - v.x) / s0) * s1;
  v.y = cy - ((cy - v.y) / s0) * s1;
  v.z = z;
  applyView();
}
function step(dir) {
  const z = state.view.z;
  const next = dir > 0 ? ZOOMS.find((s) => s > z * 1.001) : [...ZOOMS].reverse().find((s) => s < z / 1.001);
  return next || z;
}
function fit() {
  const v = state.view;
  if (!v.w) return;
  const dpr = window.devicePixelRatio || 1;
  const s = Math.min((viewer.clientWidth - 16) / v.w, (viewer.clientHeight - 16) / v.h);
  v.z = Math.max(1 / 64, s * dpr);
  v.x = (viewer.clientWidth - v.w * s) / 2;
  v.y = (viewer.clientHeight - v.h * s) / 2;
  applyView();
}
function oneToOne() { zoomTo(1); }

$("zoom-in").addEventListener("click", () => zoomTo(step(1)));
$("zoom-out").addEventListener("click", () => zoomTo(step(-1)));
$("zoom-1").addEventListener("click", oneToOne);
$("zoom-fit").addEventListener("click", fit);
viewer.addEventListener("wheel", (e) => {
  e.preventDefault();
  const r = viewer.getBoundingClientRect();
  zoomTo(step(e.deltaY < 0 ? 1 : -1), e.clientX - r.left, e.clientY - r.top);
}, { passive: false });

let drag = null;
viewer.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  const onDivider = e.target === $("divider") || e.target === $("handle");
  drag = { divider: onDivider, x: e.clientX, y: e.clientY, vx: state.view.x, vy: state.view.y };
  viewer.setPointerCapture(e.pointerId);
  if (!onDivider) viewer.classList.add("panning");
  viewer.focus();
});
viewer.addEventListener("pointermove", (e) => {
  if (!drag) return;
  if (drag.divider) {
    const r = viewer.getBoundingClientRect();
    state.view.split = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
  } else {
    state.view.x = drag.vx + e.clientX - drag.x;
    state.view.y = drag.vy + e.clientY - drag.y;
  }
  applyView();
});
const endDrag = () => { drag = null; viewer.classList.remove("panning"); };
viewer.addEventListener("pointerup", endDrag);
viewer.addEventListener("pointercancel", endDrag);
window.addEventListener("resize", applyView);

document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== "checkbox" && e.target.type !== "range") return;
  if (e.target instanceof HTMLSelectElement) return;
  if (e.key === "+" || e.key === "=") zoomTo(step(1));
  else if (e.key === "-") zoomTo(step(-1));
  else if (e.key === "1") oneToOne();
  else if (e.key === "0") fit();
  else if (e.key === "h") { $("heat").checked = !$("heat").checked; writeUrl(); refreshLayer(); }
  else return;
  e.preventDefault();
});

// ------------------------------------------------------------------ controls

$("k-slider").addEventListener("input", () => { $("k-number").value = kFromSlider(+$("k-slider").value); requestCompress(); });
$("k-number").addEventListener("change", () => { setK(clampK(+$("k-number").value)); requestCompress(); });
for (const id of ["space", "dither", "strip", "seed"]) $(id).addEventListener("change", requestCompress);
$("heat").addEventListener("change", () => { writeUrl(); refreshLayer(); });

$("copy").addEventListener("click", async () => {
  const text = $("command").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {  // not a secure context (served on another address than localhost): the old way
    const t = document.createElement("textarea");
    t.value = text; document.body.appendChild(t); t.select();
    document.execCommand("copy"); t.remove();
  }
  const b = $("copy"), was = b.textContent;
  b.textContent = "Copied ✓";
  setTimeout(() => { b.textContent = was; }, 1200);
});

$("pick").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("drop-overlay").hidden = false; });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop-overlay").hidden = true; } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop-overlay").hidden = true;
  addFiles(e.dataTransfer.files);
});

// ------------------------------------------------------------------ several images: folder mode, then a zip

$("batch-run").addEventListener("click", async () => {
  const files = state.images.map((i) => i.file), o = options();
  const bar = $("batch-progress"), status = $("batch-status"), button = $("batch-run");
  // Every file is tried: one whose upload is refused (over the size limit) is reported failed,
  // with its reason, and the batch goes on with the others, as folder mode does.
  const notSent = [];
  button.disabled = true;
  bar.hidden = false; bar.max = 2 * files.length; bar.value = 0;
  try {
    let r = await fetch(`/api/batch?${query(o)}`, { method: "POST" });
    let j = await json(r);
    if (!r.ok) throw new Error(j.error);
    const id = j.id;
    for (let n = 0; n < files.length; n++) {
      status.textContent = `Uploading ${n + 1} of ${files.length}: ${files[n].name}`;
      bar.value = n + 1;
      if (files[n].size > state.config.max_upload_bytes) {
        notSent.push(`kmeans-compress: error: ${files[n].name}: ${nf.format(files[n].size)} bytes is more than ` +
          `the upload limit of ${nf.format(state.config.max_upload_bytes)} bytes (start the server with a larger --max-upload-mb)`);
        continue;
      }
      r = await fetch(`/api/batch/${id}/files?name=${encodeURIComponent(files[n].name)}`, { method: "POST", body: files[n] });
      j = await json(r);
      if (r.status === 404 || r.status === 409) throw new Error(j.error);  // the batch itself is gone or started
      if (!r.ok) notSent.push(j.error);
    }
    r = await fetch(`/api/batch/${id}/start`, { method: "POST" });
    j = await json(r);
    if (!r.ok) throw new Error([...notSent, j.error].join("\n"));
    while (j.state === "running" || j.state === "uploading") {
      await new Promise((ok) => setTimeout(ok, 250));
      j = await json(await fetch(`/api/batch/${id}`));
      bar.value = files.length + j.done;
      status.textContent = `Compressing ${j.done} of ${j.files}`;
    }
    if (j.state !== "done") throw new Error([...notSent, ...j.errors].join("\n"));
    bar.value = bar.max;
    status.textContent = "";
    const line = document.createElement("div");
    const unsent = notSent.length ? ` (and ${notSent.length} not uploaded)` : "";
    line.textContent = `${j.summary}${unsent} · same as: ${j.command}`;
    const a = document.createElement("a");
    a.href = j.zip_url; a.textContent = "Download the zip again"; a.className = "button";
    status.append(line, a);
    const failures = [...notSent, ...j.errors];
    if (failures.length) showMessage(failures.join("\n"));
    a.click();
  } catch (e) {
    showMessage(e.message || String(e));
    status.textContent = "";
  } finally {
    button.disabled = false;
  }
});

// ------------------------------------------------------------------ start

(async () => {
  readUrl();
  try {
    state.config = await (await fetch("/api/config")).json();
    $("limits").textContent = `up to ${nf.format(Math.round(state.config.max_upload_bytes / 2 ** 20))} MB and ` +
      `${nf.format(Math.round(state.config.max_pixels / 1e6))} megapixels per image · kmeans-compress ${state.config.version}`;
  } catch { /* the limits are checked by the server anyway */ }
  applyView();
})();
